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
import type { GuestAction } from '../spec/guest-action.ts';
import {
  type HartsState, describeHartStep, hartView, hartsAccess, hartsSbi, hartsStep, initialHarts,
} from '../spec/harts.ts';
import { type Memory, readWord } from '../spec/memory.ts';
import type { ReferenceState } from '../spec/reference.ts';
import { type SbiRet, selectHarts } from '../spec/sbi.ts';
import { type Trap, costClass, trapTarget } from '../spec/privilege.ts';
import { CAUSE, type PteRead, walkSv39 } from '../spec/walk.ts';
import { type AnyMachine, LivelockError, type MachineEvent, type StepResult } from '../model/machine.ts';
import type { AnyVcpuMachine, VcpuState, VcpuStep, VcpuStepResult } from '../model/vcpus.ts';
import { type PropertyName, type PropertySpec, propertiesFor } from './catalogue.ts';
import type { GuestKind } from './commands.ts';
import { strayTranslationIn } from './isolation.ts';
import { type AdMode, VAS, bootMemory, configFor } from './pools.ts';
import type { RunContext, Scope } from './property.ts';
import { type AccessRecord, type StepRecord, dirtyRequired, unfollowable } from './record.ts';
import { accessRecord, describeEvent } from './run.ts';

export interface HartsProgram {
  readonly harts: number;
  /** What the program promises (properties/harts-commands.ts): absent, arbitrary; well-behaved, every allowed set has one element. */
  readonly guest?: GuestKind;
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
  readonly check: HartsCheckName;
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

/** The PTE words a walk of `va` from this hart's satp reads now (for the race count). */
function walkWords(ref: ReferenceState, va: Gva): Gpa[] {
  if (ref.satp.mode !== 'sv39') return [];
  const read = (_l: number, a: Gpa): PteRead[] => [{ kind: 'pte', pte: readWord(ref.mem, a), fromMemory: true }];
  const [w] = walkSv39(va, ref.satp.rootPpn, { kind: 'load', priv: 'S', sum: true, mxr: true }, read, { svade: false }, () => true);
  return w === undefined ? [] : w.path.map((p) => p.pteAddr);
}

/** Bookkeeping of the several-hart events, from the program and the reference alone (the same on every machine). */
export interface Tracking {
  /** PTE words stored since, with the hart that stored them last. */
  readonly pending: Map<Gpa, number>;
  /** Harts a successful remote fence missed while it fenced another, since their own last fence. */
  readonly missed: boolean[];
  /** Harts another hart's remote fence named since their last access. */
  readonly remoteFenced: boolean[];
}

/** The one-hart machine each hart runs, under the several-hart machine's delegation (medeleg[10] as it routes SBI calls). */
const hartMachine = (vm: AnyVcpuMachine): AnyMachine => ({ ...vm.base, delegation: vm.delegation });

/**
 * The checks a several-hart run makes besides the catalogue's properties: an SBI
 * call's return value and traps, an isolation check over every hart's cached
 * translations after every step, and a step the machine cannot complete.
 */
export type HartsCheckName = PropertyName | 'sbi-return' | 'sbi-traps' | 'livelock';

/**
 * A several-hart lockstep run between two steps: everything the next step's verdict
 * depends on (the reference, the machine, each hart's property folds), plus
 * bookkeeping that only feeds the statistics. Immutable: a step returns a new one,
 * so a search can go on from any run it kept (properties/exhaustive-harts.ts).
 */
export interface HartsLockstep {
  readonly ref: HartsState;
  readonly machine: VcpuState<unknown, unknown>;
  /** Each property's fold state (catalogue order, the model's properties), per hart. */
  readonly folds: readonly (readonly unknown[])[];
  /** Statistics only. */
  readonly track: Tracking;
}

/** What stays the same across a run's steps. */
export interface HartsRunContext {
  readonly vm: AnyVcpuMachine;
  readonly harts: number;
  readonly guest: GuestKind;
  readonly machine: AnyMachine;
  readonly props: readonly PropertySpec[];
}

/** One step of a several-hart lockstep run: the run after it, or the violation it ends with. */
export type HartsLockstepStep = { readonly kind: 'ok'; readonly next: HartsLockstep } | { readonly kind: 'violation'; readonly violation: HartsViolation };

/** The run before its first step, and what stays the same across its steps. */
export function startHartsLockstep(vm: AnyVcpuMachine, harts: number, guest: GuestKind, opts: Pick<HartsRunOptions, 'ad' | 'initialMemory' | 'universe'> = {}): { readonly context: HartsRunContext; readonly run: HartsLockstep } {
  const cfg = configFor(opts.ad ?? 'svade');
  const initial = opts.initialMemory ?? bootMemory();
  const machine = hartMachine(vm);
  const props = propertiesFor(vm.name);
  const runContext: RunContext = { machine, guest, initialMemory: initial };
  return {
    context: { vm, harts, guest, machine, props },
    run: {
      ref: initialHarts(cfg, harts, opts.universe ?? VAS, initial),
      machine: vm.init(cfg, initial, harts),
      folds: Array.from({ length: harts }, () => props.map((p) => p.start(runContext))),
      track: { pending: new Map(), missed: Array.from({ length: harts }, () => false), remoteFenced: Array.from({ length: harts }, () => false) },
    },
  };
}

/** What a run reports along the way, beside its verdicts. */
interface Hooks {
  readonly observe?: HartsRunOptions['observe'];
  readonly trace?: string[];
}

/** Step `run` by `st` (the program's step `i`): the run after it, or the first violation; `stats` is added to. */
export function stepHartsLockstep(c: HartsRunContext, run: HartsLockstep, st: VcpuStep, i: number, stats: HartsStats, hooks: Hooks = {}): HartsLockstepStep {
  const { vm, machine, props, guest } = c;
  const { ref, machine: s } = run;
  const folds = run.folds.map((f) => [...f]);
  const track: Tracking = { pending: new Map(run.track.pending), missed: [...run.track.missed], remoteFenced: [...run.track.remoteFenced] };
  const fail = (check: HartsCheckName, message: string): HartsLockstepStep => ({ kind: 'violation', violation: { check, step: i, at: st, message } });

  /** Each hart's one-hart view of a state, built once per step: several checks read it, and a shadow machine's costs a copy of its sync flags. */
  const views = new WeakMap<object, unknown[]>();
  const viewOf = (state: VcpuState<unknown, unknown>, h: number): unknown => {
    let row = views.get(state);
    if (row === undefined) {
      row = [];
      views.set(state, row);
    }
    return (row[h] ??= vm.view.hart(state, h));
  };
  /** Fold hart `h`'s record through every property of a scope; the first violation, or null. */
  const judge = (h: number, kinds: ReadonlySet<Scope['kind']>, record: StepRecord): { check: PropertyName; message: string } | null => {
    const mine = folds[h] as unknown[];
    for (const [k, p] of props.entries()) {
      if (!kinds.has(p.scope.kind)) continue;
      const v = p.step(mine[k], record);
      if ('violation' in v) return { check: p.name, message: `hart ${h}: ${v.violation}` };
      mine[k] = v.state;
    }
    return null;
  };
  /** Every state invariant on every hart's view after the step. */
  const invariants = (after: VcpuState<unknown, unknown>, refAfter: HartsState): { check: PropertyName; message: string } | null => {
    for (const p of props) {
      if (p.scope.kind !== 'state') continue;
      for (let h = 0; h < c.harts; h++) {
        const m = p.scope.check({ machine, after: viewOf(after, h), refAfter: hartView(refAfter, h) });
        if (m !== null) return { check: p.name, message: `hart ${h}: ${m}` };
      }
    }
    return null;
  };
  /** A record of hart `h` for a part of the step it ran, or for fences an IPI ran on it (no access: the access, if any, was another hart's). */
  const hartRecord = (h: number, after: VcpuState<unknown, unknown>, event: MachineEvent, result: StepResult<unknown>, refAfter: HartsState | null, access: AccessRecord | null): StepRecord => {
    const b = viewOf(s, h);
    const rb = hartView(ref, h);
    const ra = refAfter === null ? null : hartView(refAfter, h);
    return {
      step: i, event, guest, machine, before: b, after: viewOf(after, h), result, hostBefore: vm.view.host(s), hostAfter: vm.view.host(after),
      protectedBefore: () => machine.view.protectedPageTables(b), refBefore: rb, refAfter: ra, access, satpWritten: (ra ?? rb).satp,
    };
  };
  /** The fences an IPI ran on other harts, through each hart's hardware properties. */
  const remoteFences = (r: VcpuStepResult<unknown>, after: VcpuState<unknown, unknown>, event: MachineEvent, refAfter: HartsState): { check: PropertyName; message: string } | null => {
    for (const { hart: j, events } of r.remote) {
      const result: StepResult<unknown> = { state: viewOf(after, j), observation: null, traps: [], events: [], walkRefs: 0, hart: events };
      const v = judge(j, HARDWARE, hartRecord(j, after, event, result, refAfter, null));
      if (v !== null) return v;
    }
    return null;
  };

  const hart = st.hart;
  stats.steps++;
  bump(stats.commands, st.kind === 'guest' ? st.action.kind : st.kind === 'host' ? st.event.kind : `sbi ${st.call.kind}`);
  let r;
  try {
    r = vm.step(s, st);
  } catch (err) {
    if (!(err instanceof LivelockError)) throw err;
    hooks.observe?.({ index: i, step: st, state: s, traps: [], observation: '', allowed: [], ret: null });
    return fail('livelock', `the machine could not complete the step: ${err.message}`);
  }
  for (const e of r.events) bump(stats.events, e);
  for (const t of r.traps) if (t.cost !== 'none') bump(stats.events, t.cost);
  for (const x of r.cross) bump(stats.events, x);
  const after = vstate(r.state);
  const hostAfter = vm.view.host(after);

  if (st.kind === 'sbi') {
    const want = hartsSbi(ref, hart, st.call);
    hooks.observe?.({ index: i, step: st, state: r.state, traps: r.traps, observation: '', allowed: [], ret: r.ret });
    hooks.trace?.push(`${i}  ${describeHartStep(st)} -> error ${r.ret?.error ?? 'none'}`);
    if (r.ret === null || r.ret.error !== want.ret.error || r.ret.value !== want.ret.value) {
      return fail('sbi-return', `the call returned ${r.ret === null ? 'nothing' : `error ${r.ret.error}`}, the SBI spec says error ${want.ret.error}`);
    }
    const traps = sbiTrapsWrong(vm, r.traps);
    if (traps !== null) return fail('sbi-traps', traps);
    countSbi(stats, track, hart, st.call, c.harts);
    // Each named hart's part of the call, through its hardware properties, in the order the parts ran.
    // (Each record spans the whole call: the states between its parts are not kept.)
    for (const part of r.parts) {
      const v = judge(part.hart, HARDWARE, hartRecord(part.hart, after, part.event, part.result, want.state, null));
      if (v !== null) return fail(v.check, v.message);
    }
    const rv = remoteFences(r, after, r.parts[0]?.event ?? { kind: 'sfence', rs1: null, rs2: null }, want.state) ?? invariants(after, want.state);
    if (rv !== null) return fail(rv.check, rv.message);
    const stray = strayTranslationIn(vm.view.tableFrames(after), vm.view.hostTranslations(after), hostAfter);
    if (stray !== null) return fail('isolation', stray);
    return { kind: 'ok', next: { ref: want.state, machine: after, folds, track } };
  }

  const e: MachineEvent = st.kind === 'guest' ? st.action : st.event;
  const refBefore = hartView(ref, hart);
  const access = e.kind === 'access' ? accessRecord(refBefore, e, hostAfter, r.observation) : null;
  const refAfterAll: HartsState | null = st.kind === 'guest' ? referenceAfter(ref, hart, st.action, access) : ref;
  const part = r.parts[0];
  if (part === undefined) throw new Error(`the machine ran no step for ${describeVcpuStep(st)}`);
  const record = hartRecord(hart, after, e, part.result, refAfterAll, access);
  hooks.observe?.({
    index: i, step: st, state: r.state, traps: r.traps, observation: access?.reached.kind === 'guest' ? access.reached.key : '', allowed: access?.allowedKeys ?? [], ret: null,
  });
  hooks.trace?.push(`${i}  ${describeVcpuStep(st)}${access === null ? '' : ` -> ${access.reached.kind === 'guest' ? access.reached.key : access.reached.kind}`}`);
  const v = judge(hart, STEP_OR_HARDWARE, record);
  if (v !== null) return fail(v.check, v.message);
  if (refAfterAll === null) return fail('refinement', (access === null ? null : unfollowable(access)) ?? 'the reference cannot follow the step');
  const rv = remoteFences(r, after, e, refAfterAll) ?? invariants(after, refAfterAll);
  if (rv !== null) return fail(rv.check, rv.message);
  // Isolation over the other harts' cached translations (the stepping hart's are the property's): a step of one hart may leave another's stale.
  const others = Array.from({ length: c.harts }, (_v, j) => j).filter((j) => j !== hart);
  const stray = strayTranslationIn(vm.view.tableFrames(after), others.flatMap((j) => machine.view.hostTranslations(viewOf(after, j)).map((t) => ({ ...t, what: `hart ${j}: ${t.what}` }))), hostAfter);
  if (stray !== null) return fail('isolation', stray);

  if (access !== null) countAccess(stats, track, hart, refBefore, access);
  if (st.kind === 'guest' && st.action.kind === 'ptStore') track.pending.set(st.action.addr, hart);
  if (st.kind === 'guest' && st.action.kind === 'sfence') track.missed[hart] = false;
  return { kind: 'ok', next: { ref: refAfterAll, machine: after, folds, track } };
}

/** Run a program of several harts on `vm` beside the N-hart reference; stop at the first violation. */
export function runHartsProgram(vm: AnyVcpuMachine, program: HartsProgram, opts: HartsRunOptions = {}): HartsRunResult {
  const { context, run } = startHartsLockstep(vm, program.harts, program.guest ?? 'arbitrary', opts);
  const stats = emptyHartsStats();
  const trace: string[] = [];
  const hooks: Hooks = { ...(opts.observe === undefined ? {} : { observe: opts.observe }), ...(opts.record === true ? { trace } : {}) };
  let now = run;
  for (let i = 0; i < program.steps.length; i++) {
    const step = stepHartsLockstep(context, now, program.steps[i] as VcpuStep, i, stats, hooks);
    if (step.kind === 'violation') return { violation: step.violation, stats, trace };
    now = step.next;
  }
  return { violation: null, stats, trace };
}

const HARDWARE: ReadonlySet<Scope['kind']> = new Set(['hardware']);
const STEP_OR_HARDWARE: ReadonlySet<Scope['kind']> = new Set(['step', 'hardware']);

/**
 * An SBI call's traps are invisible to the guest and go where the design says: the
 * ecall (cause 10 from VS) where medeleg[10] sends it, and every other trap an IPI
 * that runs a fence on a remote hart, taken by the mode that took the call (an
 * M-mode trap each for SSP, a VM exit each for NPT and TSP). Null if so.
 */
function sbiTrapsWrong(vm: AnyVcpuMachine, traps: readonly Trap[]): string | null {
  const [call, ...rest] = traps;
  const to = trapTarget(CAUSE.ecallFromVS, 'VS', vm.delegation);
  if (call === undefined || call.cause !== CAUSE.ecallFromVS || call.from !== 'VS' || call.to !== to || call.cost !== costClass('VS', to)) {
    return `the call's ecall went ${call === undefined ? 'nowhere' : `to ${call.to} (${call.cost}, cause ${call.cause})`}; medeleg sends cause ${CAUSE.ecallFromVS} from VS to ${to}`;
  }
  const wrong = rest.find((t) => t.reason !== 'remote-fence-ipi' || t.from !== 'VS' || t.to !== to || t.cost !== costClass('VS', to));
  return wrong === undefined ? null : `the call cost a trap to ${wrong.to} (${wrong.cost}, ${wrong.reason}); every trap after the ecall is an IPI to ${to}`;
}

/** The reference after a guest step on `hart`, advanced by the machine's own outcome; null if that outcome is not guest-physical. */
function referenceAfter(ref: HartsState, hart: number, a: GuestAction, access: AccessRecord | null): HartsState | null {
  if (a.kind !== 'access') return hartsStep(ref, hart, a);
  if (access === null || access.reached.kind !== 'guest') return null;
  return hartsAccess(ref, hart, a, access.match ?? access.reached.outcome);
}

function countAccess(stats: HartsStats, track: Tracking, hart: number, refBefore: ReferenceState, access: AccessRecord): void {
  const { action: a, choice, fresh } = access;
  bump(stats.events, 'access');
  if (access.reached.kind === 'guest') bump(stats.events, choice ? 'stale-allowed' : 'deterministic-access');
  if (choice && fresh === false) bump(stats.events, 'stale-taken');
  if (access.match?.adUpdate != null) bump(stats.events, 'ad-update');
  if (dirtyRequired(access) !== null) bump(stats.events, 'dirty-required');
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
 * another hart sees and shadow pages left out of sync for another hart; and what the
 * per-hart properties are about: accesses with one allowed outcome (determinism), A/D
 * updates (no-lost-dirty; stores that need D set are too rare here for a floor, one in
 * 60 programs at worst, and the one-hart suite holds theirs), for TSP and SSP hidden faults
 * and freed shadow pages (transparency, shadow-memory). Set at about 60% of the worst
 * of 15 to 25 seeds at the test budget (60 programs of at most 30 commands, half
 * Svadu, 2 harts: 127, 163, 103, 37, 227 and, SSP, 95 and 545; 945 deterministic
 * accesses, 5 A/D updates; 203 hidden faults and 33 freed pages; 4 harts reach more,
 * and run two thirds as many programs in the test).
 */
export function hartsFloors(model: string): Readonly<Record<string, number>> {
  return {
    'remote-fence': 75,
    'cross-hart-race': 100,
    'access-after-remote-fence': 60,
    'stale-allowed-unfenced-hart': 20,
    'remote-flush': 130,
    'deterministic-access': 570,
    // A/D updates are few with several harts (one in 40 programs at worst with 4): the floor says only that some happen.
    'ad-update': 1,
    ...(model === 'npt' ? {} : { 'hidden-fault': 120, 'shadow-page-free': 20 }),
    ...(model === 'ssp' ? { 'resync-seen-by-other-hart': 55, 'unsync-for-other-hart': 290 } : {}),
  };
}

/**
 * Events per 100 well-behaved programs (TLB shootdowns, one ASID per root) below which
 * their run says too little: accesses with one allowed outcome (where `determinism`
 * holds the machine to it) and shootdowns. About 60% of the worst of 25 seeds at
 * the test budget (30 programs of at most 30 commands: 960 and 1,083 with 2 harts,
 * 987 and 1,083 with 4).
 */
export const WELL_BEHAVED_FLOORS: Readonly<Record<string, number>> = { 'deterministic-access': 575, 'remote-fence': 650 };

/** The events a several-hart run reports, in the order it prints them. */
export const HARTS_SHOWN_EVENTS: readonly string[] = [
  'remote-fence', 'remote-fence-misses-a-hart', 'sbi-invalid-param', 'cross-hart-race', 'access-after-remote-fence', 'deterministic-access', 'stale-allowed',
  'stale-allowed-unfenced-hart', 'remote-flush', 'resync-seen-by-other-hart', 'unsync-for-other-hart', 'hidden-fault', 'shadow-page-free',
  'ad-update', 'dirty-required', 'vm-exit', 'm-trap',
];
