/**
 * Counterexamples of several harts (docs/decisions/0015): a failing program of the
 * several-hart lockstep runner (properties/harts-run.ts) as an ITF trace, read
 * back and replayed the same way.
 *
 * The file is a one-hart trace (counterexamples/README.md) with two additions:
 * `#meta.harts` (2..4) and `#meta.check` (the runner's check that failed), and in
 * every step state the `hart` that ran it. An SBI call is an action of kind `sbi`
 * with its arguments and the return value the machine gave. What a state records:
 *
 * - `guestMemory`: the one memory every hart shares (through the p2m);
 * - `tables`: the hypervisor's tables, which every hart shares (one G-stage, or one
 *   set of shadow pages per VM);
 * - `tlb`, `guestSatp`: those of the hart that ran the step, as it is after it;
 *   `tables`' per-hart fields (`loaded`, `unsync`) are that hart's too;
 * - `harts`: every hart's own state after the step, hart 0 first: its `guestSatp`,
 *   its `tlb`, and for shadow paging the shadow root it has `loaded` (its vsatp) and
 *   the shadow pages `unsync` for it. This is where a hart a fence missed shows the
 *   entry it still caches (files written before it was recorded have no `harts`);
 * - `observation`, `allowed`: the access's outcome against the stepping hart's
 *   allowed set; `traps` every trap the step cost on any hart; `exits` the totals.
 *
 * The replay runs the recorded steps through `runHartsProgram` on the machine the
 * file names (VCPU_MODELS, or a HART_VARIANTS entry): it never runs a generator.
 */
import { match } from 'ts-pattern';
import { type Gva, hex } from '../spec/address.ts';
import type { Memory } from '../spec/memory.ts';
import { describeSbiCall } from '../spec/sbi.ts';
import type { MachineSnapshot, ModelName } from '../model/machine.ts';
import { HART_VARIANTS, findHartVariant } from '../model/vcpu-variants.ts';
import { type AnyVcpuMachine, VCPU_MODELS, type VcpuState, type VcpuStep } from '../model/vcpus.ts';
import { type HartsObservedStep, type HartsProgram, type HartsViolation, runHartsProgram } from '../properties/harts-run.ts';
import { type AdMode, VAS, bootMemory, configFor } from '../properties/pools.ts';
import { type PropertyName, describeEvent } from '../properties/run.ts';
import { minimize } from '../properties/suite.ts';
import { type CounterexampleMeta, type ItfTrace, type ItfValue, SCHEMA_VERSION, TraceError, eventToItf, sbiToItf, toItf } from './itf.ts';
import { type LoadedTrace, firstMismatch } from './replay.ts';
import { FAST_CHECK_VERSION, SPEC_VERSION, TRACE_VARS, type TraceStep, bootTraceStep, itfState, satpToItf, traceFollower } from './trace.ts';

/** The variables a several-hart trace records: a one-hart trace's, with the stepping hart after `step` and every hart's own state after `tlb`. */
export const HARTS_TRACE_VARS = ['step', 'hart', ...TRACE_VARS.filter((v) => v !== 'step').flatMap((v) => (v === 'tlb' ? [v, 'harts' as const] : [v]))] as const;

/** A run of a several-hart program with every step kept. */
export interface HartsRecordedRun {
  readonly vm: AnyVcpuMachine;
  readonly harts: number;
  readonly initialMemory: Memory;
  readonly ad: AdMode;
  readonly observed: readonly HartsObservedStep[];
  readonly violation: HartsViolation | null;
}

export interface HartsRunInput {
  readonly ad?: AdMode;
  readonly initialMemory?: Memory;
  readonly universe?: readonly Gva[];
}

/** Run the program on `vm` beside the N-hart reference, keeping every step; stops at the first violation. */
export function recordHartsRun(vm: AnyVcpuMachine, program: HartsProgram, run: HartsRunInput = {}): HartsRecordedRun {
  const initialMemory = run.initialMemory ?? bootMemory();
  const ad = run.ad ?? 'svade';
  const observed: HartsObservedStep[] = [];
  const r = runHartsProgram(vm, program, { ad, initialMemory, universe: run.universe ?? VAS, observe: (o) => observed.push(o) });
  return { vm, harts: program.harts, initialMemory, ad, observed, violation: r.violation };
}

function actionOf(o: HartsObservedStep): ItfValue {
  const st: VcpuStep = o.step;
  if (st.kind === 'sbi') return sbiToItf(st.call, o.ret, `${describeSbiCall(st.call)}${o.ret === null ? '' : ` -> error ${o.ret.error}`}`);
  const e = st.kind === 'guest' ? st.action : st.event;
  return eventToItf(e, describeEvent(e));
}

const spName = (frame: bigint): string => `sp 0x${frame.toString(16)}`;

/**
 * Every hart of a state seen as a one-hart machine: its snapshot (the shared tables with
 * its own `loaded` and `unsync`, and its TLB), and its record in the trace's `harts`.
 */
function everyHart(vm: AnyVcpuMachine, s: VcpuState<unknown, unknown>): { readonly ones: readonly unknown[]; readonly snapshots: readonly MachineSnapshot[]; readonly harts: ItfValue } {
  const ones = s.harts.map((_h, i) => vm.view.hart(s, i));
  const snapshots = ones.map((one) => vm.base.view.snapshot(one));
  const harts = ones.map((one, i): ItfValue => {
    const own = { guestSatp: satpToItf(vm.base.view.guestSatp(one)), tlb: [...(snapshots[i] as MachineSnapshot).tlb] };
    return match(vm.name)
      .with('npt', () => own)
      .with('tsp', 'ssp', () => {
        const { roots, loaded } = vm.base.view.shadowRoots(one);
        const root = loaded === null ? undefined : roots.get(loaded);
        const unsync = vm.base.view.shadowPages(one).filter((p) => p.unsync).map((p) => p.frame).sort((a, b) => (a < b ? -1 : 1));
        return { ...own, loaded: root === undefined ? '' : spName(root), unsync: unsync.map(spName) };
      })
      .exhaustive();
  });
  return { ones, snapshots, harts };
}

/** The states of a recorded several-hart run, boot state first, one at a time. */
export function* hartsTraceSteps(r: HartsRecordedRun): Generator<TraceStep> {
  const { vm } = r;
  const boot = everyHart(vm, vm.init(configFor(r.ad), r.initialMemory, r.harts));
  yield { ...bootTraceStep(boot.snapshots[0] as MachineSnapshot, r.initialMemory), harts: boot.harts };
  const follow = traceFollower(r.initialMemory);
  for (const o of r.observed) {
    const st = o.step;
    const carried = follow(vm.view.host(o.state), o.traps);
    const { ones, snapshots, harts } = everyHart(vm, o.state);
    const snap = snapshots[st.hart] as MachineSnapshot;
    yield {
      index: o.index + 1,
      hart: st.hart,
      event: st.kind === 'guest' ? st.action : st.kind === 'host' ? st.event : null,
      action: actionOf(o),
      priv: st.kind === 'host' ? 'HS' : st.kind === 'guest' && st.action.kind === 'access' && st.action.priv === 'U' ? 'VU' : 'VS',
      guestSatp: satpToItf(vm.base.view.guestSatp(ones[st.hart])),
      tables: toItf(snap.tables),
      tlb: [...snap.tlb],
      harts,
      observation: o.observation,
      allowed: [...o.allowed],
      ...carried,
      violation: r.violation !== null && o.index === r.violation.step ? r.violation.message : '',
    };
  }
}

export interface HartsTraceSource {
  readonly machine: AnyVcpuMachine;
  /** The several-hart variant (model/vcpu-variants.ts) the program was found on, or "none". */
  readonly variant: string;
  readonly program: HartsProgram;
  readonly ad?: AdMode;
  readonly seed: number;
  readonly path: string;
  readonly universe?: readonly Gva[];
  /** Found by `npm run exhaustive -- --harts N`: its configuration and the depth it searched. */
  readonly exhaustive?: { readonly config: string; readonly depth: number };
}

/** The one-hart property a several-hart check is recorded under (`#meta.property`); `#meta.check` names the check itself. */
const propertyOf = (check: HartsViolation['check']): PropertyName =>
  check === 'sbi-traps' ? 'transparency' : check === 'sbi-return' || check === 'livelock' ? 'refinement' : check;

/** The trace of a failing several-hart program, ending at the failing step. */
export function buildHartsTrace(src: HartsTraceSource): ItfTrace {
  const universe = src.universe ?? VAS;
  const ad = src.ad ?? 'svade';
  if (src.program.harts < 2) throw new Error('buildHartsTrace: a trace of one hart is a one-hart trace (counterexamples/trace.ts)');
  const run = recordHartsRun(src.machine, src.program, { ad, universe });
  const v = run.violation;
  if (v === null) throw new Error('buildHartsTrace: the program does not fail');
  const meta: CounterexampleMeta = {
    format: 'ITF',
    'format-description': 'https://apalache-mc.org/docs/adr/015adr-trace.html',
    source: 'ssp-spec',
    schema: SCHEMA_VERSION,
    description: `${v.check} fails on ${src.machine.name}${src.variant === 'none' ? '' : ` (variant ${src.variant})`} with ${src.program.harts} harts${ad === 'svadu' ? ' and a Svadu guest' : ''} at step ${v.step + 1} (hart ${v.at.hart}): ${v.message}`,
    property: propertyOf(v.check),
    model: src.machine.name,
    variant: src.variant,
    guest: src.program.guest ?? 'arbitrary',
    ...(ad === 'svadu' ? { ad } : {}),
    seed: src.seed,
    path: src.path,
    fastCheck: FAST_CHECK_VERSION,
    specVersion: SPEC_VERSION,
    universe: universe.map(hex),
    violation: { step: v.step + 1, message: v.message },
    harts: src.program.harts,
    check: v.check,
    ...(src.exhaustive === undefined ? {} : { exhaustive: src.exhaustive }),
  };
  return { '#meta': meta, params: [], vars: [...HARTS_TRACE_VARS], states: [...hartsTraceSteps(run)].map(itfState) };
}

/** The several-hart machine a trace names: its variant, or its model (`override` replays it on another). */
export function hartsMachineFor(meta: CounterexampleMeta, override?: { model?: ModelName; variant?: string }): { machine: AnyVcpuMachine; label: string } {
  if (override?.model !== undefined) return { machine: VCPU_MODELS[override.model], label: override.model };
  const name = override?.variant ?? meta.variant;
  if (name !== 'none') {
    const v = findHartVariant(name);
    if (v === undefined) throw new TraceError(`'${name}' is not a several-hart variant (known: ${HART_VARIANTS.map((x) => x.name).join(', ')})`);
    return { machine: v.machine, label: `${v.base} (variant ${v.name})` };
  }
  return { machine: VCPU_MODELS[meta.model], label: meta.model };
}

export interface HartsReplayResult {
  readonly violation: HartsViolation | null;
  readonly mismatch: string | null;
  readonly run: HartsRecordedRun;
  steps(): Iterable<TraceStep>;
}

/** Replay a several-hart trace's steps (or `opts.steps` in their place) on `vm`. */
export function replayHartsTrace(t: LoadedTrace, vm: AnyVcpuMachine, opts: { checkStates?: boolean; steps?: readonly VcpuStep[] } = {}): HartsReplayResult {
  if (t.harts === null) throw new TraceError('a one-hart trace is replayed by counterexamples/replay.ts (replayTrace)');
  const program: HartsProgram = { harts: t.harts.count, ...(t.meta.guest === 'well-behaved' ? { guest: t.meta.guest } : {}), steps: opts.steps ?? t.harts.steps };
  const run = recordHartsRun(vm, program, { ad: t.meta.ad ?? 'svade', initialMemory: t.initialMemory, universe: t.universe });
  return {
    violation: run.violation,
    mismatch: opts.checkStates === true ? firstMismatch(t, hartsTraceSteps(run), run.observed.length + 1) : null,
    run,
    steps: () => hartsTraceSteps(run),
  };
}

/**
 * A failing several-hart program made 1-minimal: no single step can be removed and
 * still fail on `vm` (fast-check shrinks whole commands, a command being several
 * steps), by the suite's own minimiser. A 1-minimal program ends at its failing step:
 * any step after it could go.
 */
export function minimiseHartsProgram(vm: AnyVcpuMachine, program: HartsProgram, run: HartsRunInput = {}): HartsProgram {
  const first = runHartsProgram(vm, program, run).violation;
  if (first === null) throw new Error('minimiseHartsProgram: the program does not fail');
  // The same check must fail; a well-behaved program stays one in effect (no access offered a choice), so that
  // dropping a shootdown never turns it into a program that only breaks the well-behaved promise.
  const fails = (steps: readonly VcpuStep[]): boolean => {
    const r = runHartsProgram(vm, { ...program, steps }, run);
    return r.violation?.check === first.check && (program.guest !== 'well-behaved' || (r.stats.events.get('stale-allowed') ?? 0) === 0);
  };
  return { ...program, steps: minimize(program.steps, fails) };
}
