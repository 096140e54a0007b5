/**
 * Run a program of several harts on a machine with several vCPUs (model/vcpus.ts)
 * beside the N-hart reference (spec/harts.ts), in lockstep (docs/decisions/0015):
 *
 * - **Per-hart refinement**: every access's outcome is in the allowed set of the
 *   hart that made it (`hartsAllowedOutcomes`), its A/D update matched from the
 *   machine's memory as the one-hart runner does (`accessRecord`, `withAdUpdate`
 *   of properties/run.ts), and after every step the guest's memory, through the
 *   p2m, equals the reference's one memory. The reference is advanced by the
 *   machine's own outcome, on that hart (decision 0005). The `refinement` property
 *   itself judges each step, over a record that shows it the stepping hart's view
 *   of the reference.
 * - **A completed remote fence**: the reference fences every hart an SBI call names
 *   before the call returns, so after it each named hart's allowed set holds no
 *   translation older than the fence; the next access on that hart is judged
 *   against exactly that set (counted as `access-after-remote-fence`). The call's
 *   return value (success, or SBI_ERR_INVALID_PARAM) must be the reference's.
 * - **Isolation**: the `isolation` property over every hart's cached translations
 *   and the shared tables (no access or cached translation reaches a host frame
 *   that does not back the guest page it claims, or a hypervisor table; no store
 *   reaches a write-protected page unseen), after every step, SBI calls included.
 *
 * The run stops at the first violation. It counts commands, the models' events and
 * traps, and the several-hart events the floors are stated on.
 */
import type { Gpa, Gva } from '../spec/address.ts';
import type { AccessAction, GuestAction } from '../spec/guest-action.ts';
import {
  type HartsState, describeHartStep, hartView, hartsAccess, hartsSbi, hartsStep, initialHarts,
} from '../spec/harts.ts';
import { type Memory, readWord } from '../spec/memory.ts';
import type { ReferenceState } from '../spec/reference.ts';
import { type SbiRet, selectHarts } from '../spec/sbi.ts';
import type { Trap } from '../spec/privilege.ts';
import { type PteRead, walkSv39 } from '../spec/walk.ts';
import { type AnyMachine, LivelockError, type MachineEvent, type StepResult } from '../model/machine.ts';
import type { AnyVcpuMachine, VcpuState, VcpuStep } from '../model/vcpus.ts';
import { isolation, strayTranslationIn } from './isolation.ts';
import { type AdMode, VAS, bootMemory, configFor } from './pools.ts';
import type { RunContext } from './property.ts';
import type { StepRecord } from './record.ts';
import { refinement } from './refinement.ts';
import { accessRecord, describeEvent } from './run.ts';
import { unfollowable } from './record.ts';

export interface HartsProgram {
  readonly harts: number;
  readonly steps: readonly VcpuStep[];
}

export interface HartsRunOptions {
  readonly ad?: AdMode;
  readonly initialMemory?: Memory;
  readonly universe?: readonly Gva[];
  /** Keep a line per step that ran (for a failure's report). */
  readonly record?: boolean;
  /** Called once per step that ran, before it is judged (so the failing step is seen too): what a trace's state is made from. */
  readonly observe?: (o: HartsObservedStep) => void;
}

/** One step as it ran, for a trace (counterexamples/harts-trace.ts). */
export interface HartsObservedStep {
  readonly index: number;
  readonly step: VcpuStep;
  /** The machine's state after the step (before it, for a step the machine could not complete). */
  readonly state: VcpuState<unknown, unknown>;
  readonly traps: readonly Trap[];
  /** The outcome the access reached, as the reference's keys name it ('' for a step that is not an access). */
  readonly observation: string;
  /** The stepping hart's allowed set at the access. */
  readonly allowed: readonly string[];
  /** An SBI call's return value. */
  readonly ret: SbiRet | null;
}

export interface HartsViolation {
  readonly check: 'refinement' | 'isolation' | 'sbi-return' | 'livelock';
  readonly step: number;
  readonly at: VcpuStep;
  readonly message: string;
}

export interface HartsStats {
  readonly commands: Map<string, number>;
  readonly events: Map<string, number>;
  steps: number;
}

export const emptyHartsStats = (): HartsStats => ({ commands: new Map(), events: new Map(), steps: 0 });

export function addHartsStats(into: HartsStats, from: HartsStats): void {
  for (const [k, v] of from.commands) into.commands.set(k, (into.commands.get(k) ?? 0) + v);
  for (const [k, v] of from.events) into.events.set(k, (into.events.get(k) ?? 0) + v);
  into.steps += from.steps;
}

const bump = (m: Map<string, number>, k: string, n = 1): void => {
  m.set(k, (m.get(k) ?? 0) + n);
};

export interface HartsRunResult {
  readonly violation: HartsViolation | null;
  readonly stats: HartsStats;
  readonly trace: readonly string[];
}

const vstate = (s: unknown): VcpuState<unknown, unknown> => s as VcpuState<unknown, unknown>;

/**
 * The several-hart machine as the one-hart properties see it: its host, its table
 * frames, and every hart's cached translations with the shared tables'. The rest of
 * the one-hart view is not asked for by `refinement` and `isolation`.
 */
function facade(vm: AnyVcpuMachine): AnyMachine {
  const unused = (what: string) => (): never => {
    throw new Error(`the several-hart runner does not give ${what}`);
  };
  return {
    name: vm.name,
    title: vm.title,
    delegation: vm.delegation,
    vtvm: vm.base.vtvm,
    init: unused('init'),
    step: unused('step'),
    view: {
      host: (s) => vm.view.host(vstate(s)),
      guestSatp: unused('guestSatp'),
      shadowLeaves: () => [],
      hostTranslations: (s) => vm.view.hostTranslations(vstate(s)),
      protectedPageTables: () => new Set(),
      tableFrames: (s) => vm.view.tableFrames(vstate(s)),
      shadowPages: () => [],
      shadowRoots: () => ({ roots: new Map(), loaded: null }),
      snapshot: unused('snapshot'),
    },
  };
}

/** The PTE words a walk of `va` from this hart's satp reads now (for the race count). */
function walkWords(ref: ReferenceState, va: Gva): Gpa[] {
  if (ref.satp.mode !== 'sv39') return [];
  const read = (_l: number, a: Gpa): PteRead[] => [{ kind: 'pte', pte: readWord(ref.mem, a), fromMemory: true }];
  const [w] = walkSv39(va, ref.satp.rootPpn, { kind: 'load', priv: 'S', sum: true, mxr: true }, read, { svade: false }, () => true);
  return w === undefined ? [] : w.path.map((p) => p.pteAddr);
}

/** Bookkeeping of the several-hart events, from the program and the reference alone (the same on every machine). */
interface Tracking {
  /** PTE words stored since, with the hart that stored them last. */
  readonly pending: Map<Gpa, number>;
  /** Harts a successful remote fence missed while it fenced another, since their own last fence. */
  readonly missed: boolean[];
  /** Harts another hart's remote fence named since their last access. */
  readonly remoteFenced: boolean[];
}

/** Run a program of several harts on `vm` beside the N-hart reference; stop at the first violation. */
export function runHartsProgram(vm: AnyVcpuMachine, program: HartsProgram, opts: HartsRunOptions = {}): HartsRunResult {
  const cfg = configFor(opts.ad ?? 'svade');
  const initial = opts.initialMemory ?? bootMemory();
  const machine = facade(vm);
  const context: RunContext = { machine, guest: 'arbitrary', initialMemory: initial };
  let ref: HartsState = initialHarts(cfg, program.harts, opts.universe ?? VAS, initial);
  let s = vm.init(cfg, initial, program.harts);
  let refinementState = refinement.start(context);
  let isolationState = isolation.start(context);
  const stats = emptyHartsStats();
  const trace: string[] = [];
  const track: Tracking = { pending: new Map(), missed: Array.from({ length: program.harts }, () => false), remoteFenced: Array.from({ length: program.harts }, () => false) };
  const fail = (check: HartsViolation['check'], i: number, at: VcpuStep, message: string): HartsRunResult => ({ violation: { check, step: i, at, message }, stats, trace });

  for (let i = 0; i < program.steps.length; i++) {
    const st = program.steps[i] as VcpuStep;
    stats.steps++;
    const hart = st.hart;
    bump(stats.commands, st.kind === 'guest' ? st.action.kind : st.kind === 'host' ? st.event.kind : `sbi ${st.call.kind}`);
    let r;
    try {
      r = vm.step(s, st);
    } catch (err) {
      if (!(err instanceof LivelockError)) throw err;
      opts.observe?.({ index: i, step: st, state: s, traps: [], observation: '', allowed: [], ret: null });
      return fail('livelock', i, st, `the machine could not complete the step: ${err.message}`);
    }
    for (const e of r.events) bump(stats.events, e);
    for (const t of r.traps) if (t.cost !== 'none') bump(stats.events, t.cost);
    for (const c of r.cross) bump(stats.events, c);
    const hostBefore = vm.view.host(s);
    const hostAfter = vm.view.host(r.state);

    if (st.kind === 'sbi') {
      const want = hartsSbi(ref, hart, st.call);
      opts.observe?.({ index: i, step: st, state: r.state, traps: r.traps, observation: '', allowed: [], ret: r.ret });
      if (opts.record === true) trace.push(`${i}  ${describeHartStep(st)} -> error ${r.ret?.error ?? 'none'}`);
      if (r.ret === null || r.ret.error !== want.ret.error || r.ret.value !== want.ret.value) {
        return fail('sbi-return', i, st, `the call returned ${r.ret === null ? 'nothing' : `error ${r.ret.error}`}, the SBI spec says error ${want.ret.error}`);
      }
      countSbi(stats, track, hart, st.call, program.harts);
      const stray = strayTranslationIn(vm.view.tableFrames(r.state), vm.view.hostTranslations(r.state), hostAfter);
      if (stray !== null) return fail('isolation', i, st, stray);
      ref = want.state;
      s = r.state;
      continue;
    }

    const e: MachineEvent = st.kind === 'guest' ? st.action : st.event;
    const refBefore = hartView(ref, hart);
    const access = e.kind === 'access' ? accessRecord(refBefore, e, hostAfter, r.observation) : null;
    let refAfterAll: HartsState | null = ref;
    if (st.kind === 'guest') refAfterAll = referenceAfter(ref, hart, st.action, access);
    const result: StepResult<unknown> = {
      state: r.state, observation: r.observation, traps: r.traps, events: r.events, walkRefs: r.walkRefs, hart: r.parts.flatMap((p) => p.result.hart),
    };
    const record: StepRecord = {
      step: i, event: e, guest: 'arbitrary', machine, before: s, after: r.state, result, hostBefore, hostAfter,
      protectedBefore: () => new Set(), refBefore, refAfter: refAfterAll === null ? null : hartView(refAfterAll, hart), access,
      satpWritten: (refAfterAll === null ? refBefore : hartView(refAfterAll, hart)).satp,
    };
    opts.observe?.({
      index: i, step: st, state: r.state, traps: r.traps, observation: access?.reached.kind === 'guest' ? access.reached.key : '', allowed: access?.allowedKeys ?? [], ret: null,
    });
    if (opts.record === true) trace.push(`${i}  ${describeVcpuStep(st)}${access === null ? '' : ` -> ${access.reached.kind === 'guest' ? access.reached.key : access.reached.kind}`}`);
    const rv = refinement.step(refinementState, record);
    if ('violation' in rv) return fail('refinement', i, st, rv.violation);
    refinementState = rv.state;
    const iv = isolation.step(isolationState, record);
    if ('violation' in iv) return fail('isolation', i, st, iv.violation);
    isolationState = iv.state;
    if (refAfterAll === null) return fail('refinement', i, st, (access === null ? null : unfollowable(access)) ?? 'the reference cannot follow the step');

    if (access !== null) countAccess(stats, track, hart, refBefore, access.action, access.choice, access.fresh);
    if (st.kind === 'guest' && st.action.kind === 'ptStore') track.pending.set(st.action.addr, hart);
    if (st.kind === 'guest' && st.action.kind === 'sfence') track.missed[hart] = false;
    ref = refAfterAll;
    s = r.state;
  }
  return { violation: null, stats, trace };
}

/** The reference after a guest step on `hart`, advanced by the machine's own outcome; null if that outcome is not guest-physical. */
function referenceAfter(ref: HartsState, hart: number, a: GuestAction, access: ReturnType<typeof accessRecord> | null): HartsState | null {
  if (a.kind !== 'access') return hartsStep(ref, hart, a);
  if (access === null || access.reached.kind !== 'guest') return null;
  return hartsAccess(ref, hart, a, access.match ?? access.reached.outcome);
}

function countAccess(stats: HartsStats, track: Tracking, hart: number, refBefore: ReferenceState, a: AccessAction, choice: boolean, fresh: boolean | null): void {
  bump(stats.events, 'access');
  if (choice) bump(stats.events, 'stale-allowed');
  if (choice && fresh === false) bump(stats.events, 'stale-taken');
  // A hart a remote fence passed by (it fenced another hart) may still use what it cached.
  if (choice && track.missed[hart] === true) bump(stats.events, 'stale-allowed-unfenced-hart');
  if (track.remoteFenced[hart] === true) {
    bump(stats.events, 'access-after-remote-fence');
    track.remoteFenced[hart] = false;
  }
  // A PTE another hart stored, read by this access's walk: a cross-hart race.
  const raced = walkWords(refBefore, a.va).filter((w) => {
    const by = track.pending.get(w);
    return by !== undefined && by !== hart;
  });
  if (raced.length > 0) bump(stats.events, 'cross-hart-race');
  for (const w of raced) track.pending.delete(w);
}

function countSbi(stats: HartsStats, track: Tracking, caller: number, call: Extract<VcpuStep, { kind: 'sbi' }>['call'], harts: number): void {
  const sel = selectHarts(call.hartMask, call.hartMaskBase, harts);
  if (sel.kind === 'invalid-param') {
    bump(stats.events, 'sbi-invalid-param');
    return;
  }
  const named = new Set(sel.harts);
  if (sel.harts.some((h) => h !== caller)) bump(stats.events, 'remote-fence');
  if (named.size < harts) bump(stats.events, 'remote-fence-misses-a-hart');
  for (let h = 0; h < harts; h++) {
    if (named.has(h)) {
      track.missed[h] = false;
      if (h !== caller) track.remoteFenced[h] = true;
    } else if (named.size > 0) {
      track.missed[h] = true;
    }
  }
}

export function describeVcpuStep(st: VcpuStep): string {
  return st.kind === 'host' ? `hart ${st.hart}: ${describeEvent(st.event)}` : describeHartStep(st);
}

/**
 * Events per 100 programs below which a passing several-hart run says too little:
 * remote fences, cross-hart races, accesses just after a remote fence, stale outcomes
 * allowed on a hart a remote fence missed, flushes of other harts; for SSP also resyncs
 * another hart sees and shadow pages left out of sync for another hart. Set at about
 * 60% of the worst of 25 seeds at the test budget (60 programs of at most 30
 * commands, 2 harts: 125, 163, 102, 35, 223 and, SSP, 95 and 490; 4 harts reach more).
 */
export function hartsFloors(model: string): Readonly<Record<string, number>> {
  return {
    'remote-fence': 75,
    'cross-hart-race': 100,
    'access-after-remote-fence': 60,
    'stale-allowed-unfenced-hart': 20,
    'remote-flush': 130,
    ...(model === 'ssp' ? { 'resync-seen-by-other-hart': 55, 'unsync-for-other-hart': 290 } : {}),
  };
}

/** The events a several-hart run reports, in the order it prints them. */
export const HARTS_SHOWN_EVENTS: readonly string[] = [
  'remote-fence', 'remote-fence-misses-a-hart', 'sbi-invalid-param', 'cross-hart-race', 'access-after-remote-fence', 'stale-allowed',
  'stale-allowed-unfenced-hart', 'remote-flush', 'resync-seen-by-other-hart', 'unsync-for-other-hart', 'vm-exit', 'm-trap',
];
