/**
 * Run one resolved program on one machine beside the reference, in lockstep: each
 * step becomes a step record (record.ts), and the selected properties judge every
 * record (not only after full fences: a shadow emptied at a full fence and refilled
 * lazily always agrees at that moment). The run stops at the first violation.
 *
 * Each machine is checked against the reference advanced by *its own* outcomes:
 * a store through an allowed stale translation lands in different frames on
 * different machines, and both are right.
 */
import { type Gva, PAGE_SHIFT, gpa, hex } from '../spec/address.ts';
import { maskAsid } from '../spec/config.ts';
import { type Outcome, type Satp, describeAction, outcomeKey } from '../spec/guest-action.ts';
import { type Memory, pageWords, readWord } from '../spec/memory.ts';
import { costClass, trapTarget } from '../spec/privilege.ts';
import { isValidLeaf, passesStep3, pteA, pteD, pteG, pteR, pteU, pteW, pteX } from '../spec/pte.ts';
import {
  type ReferenceState, allowedOutcomes, freshOutcome, initialReference, referenceAccess, referenceStep, walkAllowed,
} from '../spec/reference.ts';
import { isMisalignedSuperpage, leafPhysicalAddress } from '../spec/walk.ts';
import { type HostState, guestPageOf, hostMapping } from '../model/host.ts';
import { type AnyMachine, LivelockError, type MachineEvent, type Observation, type StepResult } from '../model/machine.ts';
import type { GuestKind } from './commands.ts';
import { ALL_FRAMES, VAS, bootMemory, guestConfig } from './pools.ts';
import type { AccessRecord, Reached, StepRecord } from './record.ts';

export const PROPERTY_NAMES = ['refinement', 'determinism', 'justified-shadow', 'isolation', 'transparency'] as const;
export type PropertyName = (typeof PROPERTY_NAMES)[number];

/**
 * Events the floors are stated on, and the cost counters. `asid-switch-no-fence`
 * counts satp writes to another (ASID, root) with no rs1=x0 fence since the
 * previous satp write: an ASID switch, or a root switch under the same ASID.
 */
export const EVENT_NAMES = [
  'access', 'stale-allowed', 'stale-taken', 'deterministic-access', 'shadow-resync', 'shadow-zap', 'hidden-fault',
  'injected-fault', 'asid-switch-no-fence', 'host-remap', 'host-write-protect', 'dirty-logged', 'buffer-hit', 'buffer-miss',
  'vm-exit', 'm-trap', 'walk-refs',
] as const;
export type EventName = (typeof EVENT_NAMES)[number];

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
  steps: number;
}

export const emptyStats = (): RunStats => ({ commands: new Map(), events: new Map(), steps: 0 });

export function addStats(into: RunStats, from: RunStats): void {
  for (const [k, v] of from.commands) into.commands.set(k, (into.commands.get(k) ?? 0) + v);
  for (const [k, v] of from.events) into.events.set(k, (into.events.get(k) ?? 0) + v);
  into.steps += from.steps;
}

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
  readonly checks: ReadonlySet<PropertyName>;
  readonly guest: GuestKind;
  readonly record?: boolean;
  readonly initialMemory?: Memory;
  /** The virtual addresses the reference is exact on (default: the generator's pool). */
  readonly universe?: readonly Gva[];
}

/** What a run gives a property before its first step. */
export interface RunContext {
  readonly machine: AnyMachine;
  readonly guest: GuestKind;
  readonly initialMemory: Memory;
}

/** A property's judgement of one step: its state after the step, or what is wrong. */
export type Verdict<S> = { readonly state: S } | { readonly violation: string };

interface Check<S> {
  readonly start: (run: RunContext) => S;
  readonly step: (state: S, record: StepRecord) => Verdict<S>;
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

/** Why the reference cannot follow an access (its outcome is not guest-physical), or null if it can. */
export function unfollowable(a: AccessRecord): string | null {
  if (a.reached.kind === 'missing') return 'the machine reported no observation for an access';
  if (a.reached.kind === 'unbacked') return `${describeAction(a.action)} reached host frame ${hex(a.reached.hpn)}, which backs no guest page`;
  return null;
}

export function runProgram(machine: AnyMachine, events: readonly MachineEvent[], opts: RunOptions): RunResult {
  const cfg = guestConfig;
  const initial = opts.initialMemory ?? bootMemory();
  let ref: ReferenceState = initialReference(cfg, opts.universe ?? VAS, initial);
  let s = machine.init(cfg, initial);
  const stats = emptyStats();
  const trace: TracedStep[] = [];
  const selected = PROPERTY_NAMES.filter((p) => opts.checks.has(p)).map((name) => ({ name, check: CHECKS[name] }));
  const [first] = selected;
  if (first === undefined) throw new RangeError('runProgram: no property to check');
  const context: RunContext = { machine, guest: opts.guest, initialMemory: initial };
  const states: unknown[] = selected.map((p) => p.check.start(context));
  let satpWritten: Satp = { mode: 'bare' };
  let fencedSinceSatp = true;

  for (let i = 0; i < events.length; i++) {
    const e = events[i] as MachineEvent;
    const fail = (property: PropertyName, message: string): RunResult => ({ violation: { property, step: i, event: e, message }, stats, trace });
    stats.steps++;
    bump(stats.commands, e.kind);
    const before = s;
    let r: StepResult<unknown>;
    try {
      r = machine.step(s, e);
    } catch (err) {
      // A model that cannot complete a step (a shadow fault that recurs forever) hangs the guest: visible under every property.
      if (!(err instanceof LivelockError)) throw err;
      if (opts.record) trace.push({ kind: 'stuck', event: e, before });
      return fail(first.name, `the machine could not complete the step: ${err.message}`);
    }
    const hostAfter = machine.view.host(r.state);
    for (const ev of r.events) if ((EVENT_NAMES as readonly string[]).includes(ev)) bump(stats.events, ev as EventName);
    for (const t of r.traps) if (t.cost !== 'none') bump(stats.events, t.cost);
    bump(stats.events, 'walk-refs', r.walkRefs);

    let access: AccessRecord | null = null;
    let refAfter: ReferenceState | null = ref;
    if (e.kind === 'access') {
      bump(stats.events, 'access');
      const allowed = allowedOutcomes(ref, e);
      const allowedKeys = allowed.map(outcomeKey);
      const reached = reachedOf(hostAfter, r.observation);
      const choice = allowed.length > 1;
      let match: Outcome | undefined;
      let fresh: boolean | null = null;
      if (reached.kind === 'guest') {
        match = allowed.find((_a, k) => allowedKeys[k] === reached.key);
        // With one allowed outcome it is the fresh one: walk again only when there is a choice.
        fresh = choice ? reached.key === outcomeKey(freshOutcome(ref, e)) : match !== undefined;
        bump(stats.events, choice ? 'stale-allowed' : 'deterministic-access');
        if (choice && !fresh) bump(stats.events, 'stale-taken');
        refAfter = referenceAccess(ref, e, match ?? reached.outcome);
      } else {
        refAfter = null;
      }
      access = { action: e, allowed, allowedKeys, reached, match, choice, fresh };
    } else if (e.kind === 'hostRemap' || e.kind === 'hostWriteProtect' || e.kind === 'hostUnprotect') {
      if (e.kind === 'hostRemap') bump(stats.events, 'host-remap');
      if (e.kind === 'hostWriteProtect') bump(stats.events, 'host-write-protect');
    } else {
      if (e.kind === 'satp') {
        const next: Satp = e.satp.mode === 'bare' ? e.satp : { ...e.satp, asid: maskAsid(cfg, e.satp.asid) };
        if (!fencedSinceSatp && JSON.stringify(next, jsonBigint) !== JSON.stringify(satpWritten, jsonBigint)) {
          bump(stats.events, 'asid-switch-no-fence');
        }
        satpWritten = next;
        fencedSinceSatp = false;
      }
      if (e.kind === 'sfence' && e.rs1 === null) fencedSinceSatp = true;
      refAfter = referenceStep(ref, e);
    }

    const record: StepRecord = {
      step: i, event: e, guest: opts.guest, machine, before, after: r.state, result: r,
      hostBefore: machine.view.host(before), hostAfter, protectedBefore: machine.view.protectedPageTables(before),
      refBefore: ref, refAfter, access, satpWritten,
    };
    if (opts.record) trace.push({ kind: 'step', record });
    for (let k = 0; k < selected.length; k++) {
      const p = selected[k] as (typeof selected)[number];
      const v = p.check.step(states[k], record);
      if ('violation' in v) return fail(p.name, v.violation);
      states[k] = v.state;
    }
    // A step the reference cannot follow ends the run even if no selected property objected: there is no reference to go on with.
    if (refAfter === null) return fail(first.name, (access === null ? null : unfollowable(access)) ?? 'the reference cannot follow the step');
    ref = refAfter;
    s = r.state;
  }
  return { violation: null, stats, trace };
}

const jsonBigint = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
const ok = <S>(state: S): Verdict<S> => ({ state });
const fmt = (g: bigint | null) => (g === null ? 'no guest page' : `guest page ${hex(g)}`);

const refinement: Check<ReadonlySet<bigint>> = {
  start: () => new Set(ALL_FRAMES),
  step: (written, r) => {
    if (r.access !== null) {
      const m = unfollowable(r.access) ?? outcomeNotAllowed(r.access, r.refBefore);
      if (m !== null) return { violation: m };
    }
    const now = withWritten(written, r);
    if (r.refAfter === null) return ok(now);
    const m = memoryMismatch(r.refAfter, r.hostAfter, now);
    return m === null ? ok(now) : { violation: m };
  },
};

function outcomeNotAllowed(a: AccessRecord, refBefore: ReferenceState): string | null {
  if (a.reached.kind !== 'guest') return null;
  const { observation: obs, outcome, key } = a.reached;
  if (a.match === undefined) return `${key} is not allowed; allowed: ${a.allowedKeys.join('; ')}`;
  if (obs.kind === 'ok' && outcome.kind === 'ok' && a.action.access !== 'store') {
    const expected = readWord(refBefore.mem, outcome.pa & ~7n);
    if (obs.value !== expected) return `loaded ${hex(obs.value)} from ${hex(outcome.pa)}, memory holds ${hex(expected)}`;
  }
  return null;
}

/** The pages a step may have written, added to those before it (a set copied only when it grows). */
function withWritten(written: ReadonlySet<bigint>, r: StepRecord): ReadonlySet<bigint> {
  const e = r.event;
  const page = e.kind === 'ptStore' ? e.addr >> PAGE_SHIFT
    : e.kind === 'hostRemap' ? e.gpn
    : e.kind === 'access' && e.access === 'store' && r.access?.reached.kind === 'guest' && r.access.reached.outcome.kind === 'ok'
      ? r.access.reached.outcome.pa >> PAGE_SHIFT
      : null;
  return page === null || written.has(page) ? written : new Set([...written, page]);
}

/**
 * The guest's view of memory (through the p2m) must equal the reference's, page
 * by page, on the pool's pages and every page a step has written (the others
 * cannot change, and comparing them all would make a step's cost grow with memory).
 */
function memoryMismatch(ref: ReferenceState, host: HostState, pages: ReadonlySet<bigint>): string | null {
  for (const gpn of pages) {
    const want = pageWords(ref.mem, gpn);
    const got = pageWords(host.mem, hostMapping(host, gpn).hpn);
    if (want.size !== got.size || [...want].some(([slot, v]) => got.get(slot) !== v)) {
      const slot = [...new Set([...want.keys(), ...got.keys()])].find((k) => want.get(k) !== got.get(k)) ?? 0;
      const a = (gpn << PAGE_SHIFT) + BigInt(slot) * 8n;
      return `guest memory differs at ${hex(a)}: the guest sees ${hex(got.get(slot) ?? 0n)}, the reference ${hex(want.get(slot) ?? 0n)}`;
    }
  }
  return null;
}

const determinism: Check<null> = {
  start: () => null,
  step: (state, r) => {
    const a = r.access;
    if (a === null || a.reached.kind !== 'guest') return ok(state);
    if (r.guest === 'well-behaved' && a.allowed.length !== 1) {
      return { violation: `the reference allows ${a.allowed.length} outcomes (${a.allowedKeys.join('; ')}) for a well-behaved guest` };
    }
    if (a.allowed.length === 1 && a.match === undefined) {
      return { violation: `the architecture allows only ${a.allowedKeys[0]}, the machine gave ${a.reached.key}` };
    }
    return ok(state);
  },
};

const justifiedShadow: Check<null> = {
  start: () => null,
  step: (state, r) => {
    // With no reference after the step there is nothing to justify a leaf against (the run ends here).
    if (r.refAfter === null) return ok(state);
    const m = unjustifiedLeaf(r.machine, r.after, r.refAfter);
    return m === null ? ok(state) : { violation: m };
  },
};

/**
 * Every valid shadow leaf maps what the guest walk composed with the host mapping
 * gave as of its last sync: for the loaded shadow, a walk the reference allows now.
 */
function unjustifiedLeaf(machine: AnyMachine, s: unknown, ref: ReferenceState): string | null {
  const host = machine.view.host(s);
  const prot = machine.view.protectedPageTables(s);
  for (const l of machine.view.shadowLeaves(s)) {
    const where = `shadow ${l.shadow} leaf for ${hex(l.va)}`;
    const guestLeaf = l.guestPath[l.guestPath.length - 1];
    if (guestLeaf === undefined || !isValidLeaf(guestLeaf.pte)) return `${where} has no guest leaf behind it`;
    const pte = guestLeaf.pte;
    const m = hostMapping(host, l.gpn);
    if (l.hpn !== m.hpn) return `${where} maps host frame ${hex(l.hpn)}, the p2m backs guest page ${hex(l.gpn)} with ${hex(m.hpn)}`;
    const gpn = leafPhysicalAddress(l.va, pte, guestLeaf.level) >> PAGE_SHIFT;
    if (gpn !== l.gpn) return `${where} claims guest page ${hex(l.gpn)}, its guest leaf gives ${hex(gpn)}`;
    if (l.r !== pteR(pte) || l.x !== pteX(pte) || l.u !== pteU(pte)) return `${where} has R/X/U ${[l.r, l.x, l.u]} but its guest leaf has ${[pteR(pte), pteX(pte), pteU(pte)]}`;
    // Steps 6 and 7 as the reference runs them: no shadow leaf from a misaligned superpage, or (Svade) from a leaf with A clear.
    if (isMisalignedSuperpage(pte, guestLeaf.level)) return `${where} comes from a misaligned superpage`;
    if (ref.cfg.svade && !pteA(pte)) return `${where} comes from a guest leaf with A clear`;
    const guestW = pteW(pte) && (!ref.cfg.svade || pteD(pte));
    if (l.w && (!guestW || m.writeProtected || prot.has(l.gpn))) return `${where} is writable without the guest, the host and the page-table protection all allowing it`;
    if (!l.w && guestW && !m.writeProtected && !prot.has(l.gpn)) return `${where} is read-only with no reason (guest W, host writable, not a page table)`;
    const g = l.guestPath.some((p) => passesStep3(p.pte) && pteG(p.pte));
    if (l.g !== g) return `${where} has G=${l.g}, the guest path passes down G=${g}`;
    if (l.loaded && !walkAllowed(ref, l.va as Gva, l.guestPath)) {
      return `${where} was synchronised from a guest walk the architecture no longer allows (${l.guestPath.map((p) => hex(p.pte)).join(' -> ')})`;
    }
  }
  return null;
}

const isolation: Check<null> = {
  start: () => null,
  step: (state, r) => {
    const m = unseenStore(r) ?? strayTranslation(r);
    return m === null ? ok(state) : { violation: m };
  },
};

/** An access that left the guest, or a store that reached a write-protected page without this step logging it. */
function unseenStore(r: StepRecord): string | null {
  const logged = (gpn: bigint) => r.result.events.includes('dirty-logged') && r.hostAfter.dirty.has(gpn);
  const a = r.access;
  if (a !== null) {
    if (a.reached.kind === 'unbacked') return unfollowable(a);
    if (a.reached.kind === 'guest' && a.reached.observation.kind === 'ok' && a.action.access === 'store' && a.reached.outcome.kind === 'ok') {
      const gpn = a.reached.outcome.pa >> PAGE_SHIFT;
      // Logged by this step: an earlier log of the page says nothing about this store.
      if (hostMapping(r.hostBefore, gpn).writeProtected && !logged(gpn)) return `a store reached write-protected guest page ${hex(gpn)} and the dirty log missed it`;
    }
  }
  if (r.event.kind === 'ptStore') {
    const gpn = r.event.addr >> PAGE_SHIFT;
    if (hostMapping(r.hostBefore, gpn).writeProtected && !logged(gpn)) return `a page-table store reached write-protected guest page ${hex(gpn)} and the dirty log missed it`;
  }
  return null;
}

/** A cached translation that names a host frame not backing the guest page it claims. */
function strayTranslation(r: StepRecord): string | null {
  for (const t of r.machine.view.hostTranslations(r.after)) {
    if (guestPageOf(r.hostAfter, t.hpn) !== t.gpn) {
      return `${t.what} maps guest page ${hex(t.gpn)} to host frame ${hex(t.hpn)}, which backs ${fmt(guestPageOf(r.hostAfter, t.hpn))}`;
    }
  }
  return null;
}

const GUEST_CAUSES = new Set([1, 5, 7, 12, 13, 15]);

const transparency: Check<null> = {
  start: () => null,
  step: (state, r) => {
    const m = visibleAccessTrap(r) ?? transparencyBreach(r);
    return m === null ? ok(state) : { violation: m };
  },
};

function visibleAccessTrap(r: StepRecord): string | null {
  const a = r.access;
  if (a === null || a.reached.kind !== 'guest') return null;
  const { observation: obs, outcome } = a.reached;
  // TSP sees every guest store to a page-table page it protects: such a store never completes without an exit.
  if (r.machine.name === 'tsp' && a.action.access === 'store' && outcome.kind === 'ok'
    && r.protectedBefore.has(outcome.pa >> PAGE_SHIFT) && !r.result.traps.some((t) => t.cost === 'vm-exit')) {
    return `a store reached protected page-table page ${hex(outcome.pa >> PAGE_SHIFT)} without an exit`;
  }
  if (obs.kind === 'fault' && !GUEST_CAUSES.has(obs.cause)) return `the guest saw cause ${obs.cause}, which only the hypervisor should see`;
  return null;
}

/**
 * Hidden faults and M-mode interceptions are invisible to the guest, and each
 * design exits exactly where it says it does.
 */
function transparencyBreach(rec: StepRecord): string | null {
  const { machine, event: e, result: r } = rec;
  const written = rec.satpWritten;
  const reads = machine.view.guestSatp(rec.after);
  if (JSON.stringify(written, jsonBigint) !== JSON.stringify(reads, jsonBigint)) {
    return `the guest reads satp as ${JSON.stringify(reads, jsonBigint)}, it wrote ${JSON.stringify(written, jsonBigint)}`;
  }
  for (const t of r.traps) {
    if (t.from === 'M') continue;
    const to = trapTarget(t.cause, t.from, machine.delegation);
    if (t.to !== to || t.cost !== costClass(t.from, t.to)) return `cause ${t.cause} from ${t.from} went to ${t.to} (${t.cost}); the delegation sends it to ${to}`;
  }
  const count = (reason: string, cost?: string) => r.traps.filter((t) => t.reason === reason && (cost === undefined || t.cost === cost)).length;
  const exits = r.traps.filter((t) => t.cost !== 'none');
  const name = machine.name;
  if (e.kind === 'ptStore') {
    const want = name === 'tsp' && rec.protectedBefore.has(e.addr >> PAGE_SHIFT) ? 1 : 0;
    if (count('pt-store-protected') !== want) return `${name} took ${count('pt-store-protected')} page-table-store exits, expected ${want}`;
    if (exits.some((t) => t.reason !== 'pt-store-protected' && t.reason !== 'dirty-log')) return `${name} exited on a page-table store for another reason`;
  }
  if (e.kind === 'satp' || e.kind === 'sfence') {
    const reason = e.kind === 'satp' ? 'satp-write' : 'sfence';
    const vm = count(reason, 'vm-exit');
    const mt = count(reason, 'm-trap');
    const ok = name === 'npt' ? exits.length === 0
      : name === 'tsp' ? vm === 1 && mt === 0 && exits.length === 1
      : mt === 1 && exits.length === mt + vm && vm === (e.kind === 'satp' && r.events.includes('buffer-miss') ? 1 : 0);
    if (!ok) return `${name} took ${vm} VM exits and ${mt} M-mode traps for ${describeAction(e)}`;
  }
  if (e.kind === 'access' && r.observation?.kind === 'ok' && r.events.includes('injected-fault')) {
    return 'the hypervisor injected a fault into an access that completed';
  }
  return null;
}

const CHECKS: Record<PropertyName, Check<unknown>> = {
  refinement: refinement as Check<unknown>,
  determinism: determinism as Check<unknown>,
  'justified-shadow': justifiedShadow as Check<unknown>,
  isolation: isolation as Check<unknown>,
  transparency: transparency as Check<unknown>,
};
