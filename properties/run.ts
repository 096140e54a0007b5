/**
 * Run one resolved program on one machine beside the reference, in lockstep: each
 * step becomes a step record (record.ts), and every selected property judges every
 * record (not only after full fences: a shadow emptied at a full fence and refilled
 * lazily always agrees at that moment). The run stops at the first violation and
 * names the property. The runner knows no property by name: what each one says is
 * in its own file (catalogue.ts lists them); it counts the events and statistics.
 *
 * Each machine is checked against the reference advanced by *its own* outcomes:
 * a store through an allowed stale translation lands in different frames on
 * different machines, and both are right.
 */
import { type Gpa, type Gva, PAGE_SHIFT, gpa, hex } from '../spec/address.ts';
import { inRam, maskAsid } from '../spec/config.ts';
import { type AccessAction, type Outcome, type Satp, describeAction, outcomeKey, outcomeWrites } from '../spec/guest-action.ts';
import { type Memory, readWord } from '../spec/memory.ts';
import {
  type ReferenceState, allowedOutcomes, freshOutcome, initialReference, referenceAccess, referenceStep,
} from '../spec/reference.ts';
import { type HostState, guestPageOf, guestRead } from '../model/host.ts';
import { type AnyMachine, LivelockError, type MachineEvent, type Observation, type StepResult } from '../model/machine.ts';
import type { PropertyName, PropertySpec } from './catalogue.ts';
import type { GuestKind } from './commands.ts';
import { type Bookkeeping, COVERAGE_NAMES, type CoverageName, coverage, startCoverage } from './coverage.ts';
import { type AdMode, VAS, bootMemory, configFor, guestConfig } from './pools.ts';
import type { RunContext } from './property.ts';
import { type AccessRecord, type Reached, type StepRecord, dirtyRequired, unfollowable } from './record.ts';

// Where counterexamples/ found them before the catalogue listed the properties.
export { PROPERTY_NAMES, type PropertyName } from './catalogue.ts';

/**
 * Events the floors are stated on, and the cost counters. `asid-switch-no-fence`
 * counts satp writes to another (ASID, root) with no rs1=x0 fence since the
 * previous satp write: an ASID switch, or a root switch under the same ASID.
 * `ad-update` counts accesses whose outcome set A or D (Svadu), `ad-emulated` the
 * hypervisor's writes of them for the guest (shadow paging), `dirty-required` stores
 * that the architecture lets through only by setting D in memory (record.ts).
 */
export const EVENT_NAMES = [
  'access', 'stale-allowed', 'stale-taken', 'deterministic-access', 'shadow-resync', 'shadow-zap', 'hidden-fault',
  'injected-fault', 'asid-switch-no-fence', 'host-remap', 'host-write-protect', 'dirty-logged', 'buffer-hit', 'buffer-miss',
  'vm-exit', 'm-trap', 'walk-refs', 'hw-tlb-flush', 'write-protect-applied', 'write-access-restored', 'shadow-page-alloc',
  'shadow-page-free', 'shadow-reclaim', 'gstage-split', 'gstage-collapse', 'table-pages-peak', 'ad-update', 'ad-emulated', 'dirty-required',
] as const;
export type EventName = (typeof EVENT_NAMES)[number];
const EVENT_SET: ReadonlySet<string> = new Set(EVENT_NAMES);
const isEventName = (n: string): n is EventName => EVENT_SET.has(n);

/** What a floor may be stated on: an event, or a generator coverage count (coverage.ts). */
export type StatName = EventName | CoverageName;

export interface Violation {
  readonly property: PropertyName;
  readonly step: number;
  readonly event: MachineEvent;
  readonly message: string;
}

/** A step as a trace keeps it: its record, or, for a step the machine could not complete, what ran and the state it ran from. */
export type TracedStep =
  | { readonly kind: 'step'; readonly record: StepRecord }
  | { readonly kind: 'stuck'; readonly event: MachineEvent; readonly before: unknown };

export interface RunStats {
  readonly commands: Map<string, number>;
  readonly events: Map<EventName, number>;
  /** Generator coverage: counted from the program's events alone, the same on every machine. */
  readonly coverage: Map<CoverageName, number>;
  steps: number;
}

export const emptyStats = (): RunStats => ({ commands: new Map(), events: new Map(), coverage: new Map(), steps: 0 });

export function addStats(into: RunStats, from: RunStats): void {
  for (const [k, v] of from.commands) into.commands.set(k, (into.commands.get(k) ?? 0) + v);
  for (const [k, v] of from.events) into.events.set(k, (into.events.get(k) ?? 0) + v);
  for (const [k, v] of from.coverage) into.coverage.set(k, (into.coverage.get(k) ?? 0) + v);
  into.steps += from.steps;
}

const isCoverageName = (n: StatName): n is CoverageName => (COVERAGE_NAMES as readonly string[]).includes(n);

export const statCount = (stats: RunStats, name: StatName): number =>
  (isCoverageName(name) ? stats.coverage.get(name) : stats.events.get(name)) ?? 0;

const bump = <K>(m: Map<K, number>, k: K, n = 1): void => {
  m.set(k, (m.get(k) ?? 0) + n);
};

export const describeEvent = (e: MachineEvent): string =>
  e.kind === 'hostRemap' || e.kind === 'hostWriteProtect' || e.kind === 'hostUnprotect'
    ? `${e.kind} gpn=${hex(e.gpn)}`
    : describeAction(e);

export interface RunResult {
  readonly violation: Violation | null;
  readonly stats: RunStats;
  /** With `record`: every step that ran, the failing one included. */
  readonly trace: readonly TracedStep[];
}

export interface RunOptions {
  /** The properties to check, in this order; the first is also charged with a step the machine cannot complete. */
  readonly properties: readonly PropertySpec[];
  readonly guest: GuestKind;
  readonly record?: boolean;
  readonly initialMemory?: Memory;
  /** The virtual addresses the reference is exact on (default: the generator's pool). */
  readonly universe?: readonly Gva[];
  /** Svade (the default) or Svadu guests: the configuration the machine and the reference both run. */
  readonly ad?: AdMode;
}

/** The guest-physical outcome a machine's observation stands for (decision 0005). */
function reachedOf(h: HostState, o: Observation | null): Reached {
  if (o === null) return { kind: 'missing' };
  if (o.kind === 'fault') return { kind: 'guest', observation: o, outcome: o, key: outcomeKey(o) };
  const hpn = o.hpa >> PAGE_SHIFT;
  const gpn = guestPageOf(h, hpn);
  if (gpn === null) return { kind: 'unbacked', observation: o, hpn };
  const outcome: Outcome = { kind: 'ok', pa: gpa((gpn << PAGE_SHIFT) | (o.hpa & 0xfffn)), adUpdate: null };
  return { kind: 'guest', observation: o, outcome, key: outcomeKey(outcome) };
}

/** An access against the allowed set; the allowed set is computed here once because the stale statistics need it anyway. */
export function accessRecord(ref: ReferenceState, a: AccessAction, hostAfter: HostState, observation: Observation | null): AccessRecord {
  const allowed = allowedOutcomes(ref, a);
  const allowedKeys = allowed.map(outcomeKey);
  const seen = reachedOf(hostAfter, observation);
  const choice = allowed.length > 1;
  if (seen.kind !== 'guest') return { action: a, allowed, allowedKeys, reached: seen, match: undefined, choice, fresh: null };
  const reached = withAdUpdate(ref, a, hostAfter, seen, allowed);
  const match = allowed.find((_o, k) => allowedKeys[k] === reached.key);
  // With one allowed outcome it is the fresh one: walk again only when there is a choice.
  const fresh = choice ? reached.key === outcomeKey(freshOutcome(ref, a)) : match !== undefined;
  return { action: a, allowed, allowedKeys, reached, match, choice, fresh };
}

/**
 * What a machine's observation stands for, with the A/D update (Svadu, step 7) it made.
 * An observation says where the access went, not which PTE the hart updated; the
 * machine's memory does. Of the allowed outcomes that went to the same place, the one
 * whose writes leave every PTE word any of them updates as the machine's memory holds
 * it after the step; if none does, what the machine did (`inferred`), which is then
 * not allowed.
 */
function withAdUpdate(ref: ReferenceState, a: AccessAction, hostAfter: HostState, seen: Extract<Reached, { kind: 'guest' }>, allowed: readonly Outcome[]): Extract<Reached, { kind: 'guest' }> {
  const withoutAd = (o: Outcome): Outcome => (o.kind === 'ok' ? { ...o, adUpdate: null } : { kind: 'fault', cause: o.cause, tval: o.tval });
  const same = allowed.filter((o) => outcomeKey(withoutAd(o)) === seen.key);
  if (same.length === 0 || (same.length === 1 && (same[0] as Outcome).adUpdate == null)) return seen;
  const updated = [...new Set(same.flatMap((o) => (o.adUpdate == null ? [] : [o.adUpdate.addr])))];
  const after = (o: Outcome, addr: Gpa): bigint => {
    let v = readWord(ref.mem, addr);
    for (const [w, value] of outcomeWrites(a, o)) if (w === addr) v = value;
    return v;
  };
  const agrees = (o: Outcome): boolean => updated.every((addr) => !inRam(ref.cfg, addr) || guestRead(hostAfter, addr) === after(o, addr));
  const chosen = same.find(agrees) ?? inferred(ref, a, hostAfter, seen.outcome, updated);
  return { ...seen, outcome: chosen, key: outcomeKey(chosen) };
}

/**
 * The outcome a machine produced when no allowed one agrees with its memory: its own
 * A/D write, if it changed a PTE word an allowed outcome updates (beyond what the access's own
 * store put there), else none. Reported as it is, so the evidence shows what ran.
 */
function inferred(ref: ReferenceState, a: AccessAction, hostAfter: HostState, outcome: Outcome, updated: readonly Gpa[]): Outcome {
  const stored = a.access === 'store' && outcome.kind === 'ok' ? outcome.pa : null;
  const changed = updated.find((addr) => inRam(ref.cfg, addr) && addr !== stored && guestRead(hostAfter, addr) !== readWord(ref.mem, addr));
  if (changed === undefined) return outcome;
  const adUpdate = { addr: changed, pte: guestRead(hostAfter, changed) };
  return { ...outcome, adUpdate };
}

/** The reference after the step, advanced by the machine's own outcome; null if that outcome is not guest-physical. */
function referenceAfter(ref: ReferenceState, e: MachineEvent, access: AccessRecord | null): ReferenceState | null {
  if (e.kind === 'hostRemap' || e.kind === 'hostWriteProtect' || e.kind === 'hostUnprotect') return ref;
  if (e.kind !== 'access') return referenceStep(ref, e);
  if (access === null || access.reached.kind !== 'guest') return null;
  return referenceAccess(ref, e, access.match ?? access.reached.outcome);
}

/** The satp the guest last wrote, and whether an rs1=x0 fence came since. */
interface SatpTrack {
  readonly written: Satp;
  readonly fenced: boolean;
}

const sameSatp = (a: Satp, b: Satp): boolean =>
  a.mode === 'bare' ? b.mode === 'bare' : b.mode === 'sv39' && a.asid === b.asid && a.rootPpn === b.rootPpn;

function trackSatp(t: SatpTrack, e: MachineEvent): SatpTrack {
  if (e.kind === 'satp') return { written: e.satp.mode === 'bare' ? e.satp : { ...e.satp, asid: maskAsid(guestConfig, e.satp.asid) }, fenced: false };
  if (e.kind === 'sfence' && e.rs1 === null) return { ...t, fenced: true };
  return t;
}

/** The events of one completed step, from the model's events and traps and the record: nothing here knows a property. */
function countStep(stats: RunStats, r: StepRecord, satpBefore: SatpTrack): void {
  for (const ev of r.result.events) if (isEventName(ev)) bump(stats.events, ev);
  for (const t of r.result.traps) if (t.cost !== 'none') bump(stats.events, t.cost);
  bump(stats.events, 'walk-refs', r.result.walkRefs);
  const e = r.event;
  if (r.access !== null) {
    bump(stats.events, 'access');
    if (r.access.reached.kind === 'guest') bump(stats.events, r.access.choice ? 'stale-allowed' : 'deterministic-access');
    if (r.access.choice && r.access.fresh === false) bump(stats.events, 'stale-taken');
    // Svadu: the guest's A or D was set for this access (by the hart, or by the hypervisor for it).
    if (r.access.match?.adUpdate != null) bump(stats.events, 'ad-update');
    if (dirtyRequired(r.access) !== null) bump(stats.events, 'dirty-required');
  }
  if (e.kind === 'hostRemap') bump(stats.events, 'host-remap');
  if (e.kind === 'hostWriteProtect') bump(stats.events, 'host-write-protect');
  if (e.kind === 'satp' && !satpBefore.fenced && !sameSatp(r.satpWritten, satpBefore.written)) bump(stats.events, 'asid-switch-no-fence');
}

/**
 * A lockstep run between two steps: everything the next step's verdict depends on
 * (the reference, the machine, each property's fold state), plus bookkeeping that
 * only feeds the statistics. Immutable: a step returns a new one, so a search can
 * go on from any run it kept (properties/exhaustive.ts).
 */
export interface Lockstep {
  readonly ref: ReferenceState;
  readonly machine: unknown;
  /** Each selected property's state, in the order of `RunOptions.properties`. */
  readonly properties: readonly unknown[];
  /** Statistics only: the satp last written, and the generator-coverage bookkeeping. */
  readonly satp: SatpTrack;
  readonly bookkeeping: Bookkeeping;
  /** Statistics only: host frames held as tables, at the most so far. */
  readonly tablePages: number;
}

/** One step of a lockstep run: the run after it, or the violation it ends with. */
export type LockstepStep =
  | { readonly kind: 'ok'; readonly next: Lockstep; readonly traced: TracedStep }
  | { readonly kind: 'violation'; readonly violation: Violation; readonly traced: TracedStep };

/** The run before its first step. */
export function startLockstep(machine: AnyMachine, opts: RunOptions): Lockstep {
  const initial = opts.initialMemory ?? bootMemory();
  if (opts.properties.length === 0) throw new RangeError('runProgram: no property to check');
  const context: RunContext = { machine, guest: opts.guest, initialMemory: initial };
  const cfg = configFor(opts.ad ?? 'svade');
  const s = machine.init(cfg, initial);
  return {
    ref: initialReference(cfg, opts.universe ?? VAS, initial),
    machine: s,
    properties: opts.properties.map((p) => p.start(context)),
    satp: { written: { mode: 'bare' }, fenced: true },
    bookkeeping: startCoverage(initial),
    // Host frames the hypervisor holds as tables, at the most in this program: counted once per program, so
    // `table-pages-peak` per 100 programs is a hundred times the mean peak (shadow memory in use).
    tablePages: machine.view.tableFrames(s).size,
  };
}

/**
 * Run event `e` as step `i` of a run: the machine steps, the reference follows its
 * outcome, and every selected property judges the record, in order; the first that
 * objects ends the run. Counts the step's commands, events and coverage into `stats`.
 */
export function stepLockstep(machine: AnyMachine, opts: RunOptions, run: Lockstep, e: MachineEvent, i: number, stats: RunStats): LockstepStep {
  const selected = opts.properties;
  const first = selected[0] as PropertySpec;
  const { ref } = run;
  const s = run.machine;
  stats.steps++;
  bump(stats.commands, e.kind);
  const classified = coverage(e, run.bookkeeping);
  for (const c of classified.counts) bump(stats.coverage, c);
  let r: StepResult<unknown>;
  try {
    r = machine.step(s, e);
  } catch (err) {
    // A model that cannot complete a step (a shadow fault that recurs forever) hangs the guest: visible under every property.
    if (!(err instanceof LivelockError)) throw err;
    return { kind: 'violation', violation: { property: first.name, step: i, event: e, message: `the machine could not complete the step: ${err.message}` }, traced: { kind: 'stuck', event: e, before: s } };
  }
  const hostAfter = machine.view.host(r.state);
  const access = e.kind === 'access' ? accessRecord(ref, e, hostAfter, r.observation) : null;
  const refAfter = referenceAfter(ref, e, access);
  const satp = trackSatp(run.satp, e);
  const record: StepRecord = {
    step: i, event: e, guest: opts.guest, machine, before: s, after: r.state, result: r,
    hostBefore: machine.view.host(s), hostAfter, protectedBefore: once(() => machine.view.protectedPageTables(s)),
    refBefore: ref, refAfter, access, satpWritten: satp.written,
  };
  countStep(stats, record, run.satp);
  const traced: TracedStep = { kind: 'step', record };
  const states = [...run.properties];
  for (let k = 0; k < selected.length; k++) {
    const p = selected[k] as PropertySpec;
    const v = p.step(states[k], record);
    if ('violation' in v) return { kind: 'violation', violation: { property: p.name, step: i, event: e, message: v.violation }, traced };
    states[k] = v.state;
  }
  // A step the reference cannot follow ends the run even if no selected property objected: there is no reference to go on with.
  if (refAfter === null) {
    const message = (access === null ? null : unfollowable(access)) ?? 'the reference cannot follow the step';
    return { kind: 'violation', violation: { property: first.name, step: i, event: e, message }, traced };
  }
  const next: Lockstep = {
    ref: refAfter, machine: r.state, properties: states, satp, bookkeeping: classified.bookkeeping,
    tablePages: Math.max(run.tablePages, machine.view.tableFrames(r.state).size),
  };
  return { kind: 'ok', next, traced };
}

/** Run a whole program in lockstep (startLockstep, then stepLockstep per event), stopping at the first violation. */
export function runProgram(machine: AnyMachine, events: readonly MachineEvent[], opts: RunOptions): RunResult {
  let run = startLockstep(machine, opts);
  const stats = emptyStats();
  const trace: TracedStep[] = [];
  for (let i = 0; i < events.length; i++) {
    const step = stepLockstep(machine, opts, run, events[i] as MachineEvent, i, stats);
    if (opts.record) trace.push(step.traced);
    if (step.kind === 'violation') {
      bump(stats.events, 'table-pages-peak', run.tablePages);
      return { violation: step.violation, stats, trace };
    }
    run = step.next;
  }
  bump(stats.events, 'table-pages-peak', run.tablePages);
  return { violation: null, stats, trace };
}

/** A value made on first use and kept: the same answer every call, so still a pure function to its callers. */
function once<T>(make: () => T): () => T {
  let made: { readonly value: T } | null = null;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}
