/**
 * Run one resolved program on one machine beside the reference, checking the
 * selected properties at every step (not only after full fences: a shadow emptied
 * at a full fence and refilled lazily always agrees at that moment).
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

export interface StepRecord {
  readonly event: MachineEvent;
  readonly allowed: readonly string[] | null;
  readonly outcome: string | null;
  readonly result: StepResult<unknown>;
}

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
  readonly trace: readonly StepRecord[];
}

export interface RunOptions {
  readonly checks: ReadonlySet<PropertyName>;
  readonly guest: GuestKind;
  readonly record?: boolean;
  readonly initialMemory?: Memory;
  /** The virtual addresses the reference is exact on (default: the generator's pool). */
  readonly universe?: readonly Gva[];
}

/** The guest-physical outcome a machine's observation stands for, or null if its host frame backs no guest page. */
function observedOutcome(h: HostState, o: Observation): Outcome | null {
  if (o.kind === 'fault') return o;
  const gpn = guestPageOf(h, o.hpa >> PAGE_SHIFT);
  return gpn === null ? null : { kind: 'ok', pa: gpa((gpn << PAGE_SHIFT) | (o.hpa & 0xfffn)), adUpdate: null };
}

const GUEST_CAUSES = new Set([1, 5, 7, 12, 13, 15]);

export function runProgram(machine: AnyMachine, events: readonly MachineEvent[], opts: RunOptions): RunResult {
  const cfg = guestConfig;
  const initial = opts.initialMemory ?? bootMemory();
  let ref: ReferenceState = initialReference(cfg, opts.universe ?? VAS, initial);
  let s = machine.init(cfg, initial);
  const stats = emptyStats();
  const trace: StepRecord[] = [];
  const on = (p: PropertyName) => opts.checks.has(p);
  let lastSatp: Satp = { mode: 'bare' };
  const written = new Set<bigint>(ALL_FRAMES);
  let fencedSinceSatp = true;

  for (let i = 0; i < events.length; i++) {
    const e = events[i] as MachineEvent;
    let allowedKeys: string[] | null = null;
    let outcomeText: string | null = null;
    let result: StepResult<unknown> | null = null;
    const fail = (property: PropertyName, message: string): RunResult => {
      // The failing step is recorded too (with the state before it if the machine could not complete it).
      if (opts.record && trace.length === i) {
        trace.push({ event: e, allowed: allowedKeys, outcome: outcomeText, result: result ?? { state: s, observation: null, traps: [], events: [], walkRefs: 0 } });
      }
      return { violation: { property, step: i, event: e, message }, stats, trace };
    };
    stats.steps++;
    bump(stats.commands, e.kind);
    const before = s;
    const hostBefore = machine.view.host(before);
    const protectedBefore = machine.view.protectedPageTables(before);
    let r: StepResult<unknown>;
    try {
      r = machine.step(s, e);
      result = r;
    } catch (err) {
      // A model that cannot complete a step (a shadow fault that recurs forever) hangs the guest: visible under every property.
      if (!(err instanceof LivelockError)) throw err;
      const [first] = opts.checks;
      return fail(first ?? 'refinement', `the machine could not complete the step: ${err.message}`);
    }
    s = r.state;
    const host = machine.view.host(s);
    for (const ev of r.events) if ((EVENT_NAMES as readonly string[]).includes(ev)) bump(stats.events, ev as EventName);
    for (const t of r.traps) if (t.cost !== 'none') bump(stats.events, t.cost);
    bump(stats.events, 'walk-refs', r.walkRefs);

    if (e.kind === 'access') {
      bump(stats.events, 'access');
      const allowed = allowedOutcomes(ref, e);
      allowedKeys = allowed.map(outcomeKey);
      const obs = r.observation;
      if (obs === null) return fail('refinement', 'the machine reported no observation for an access');
      const outcome = observedOutcome(host, obs);
      if (outcome === null) {
        return fail(on('isolation') ? 'isolation' : 'refinement',
          `${describeAction(e)} reached host frame ${hex(obs.kind === 'ok' ? obs.hpa >> PAGE_SHIFT : 0n)}, which backs no guest page`);
      }
      outcomeText = outcomeKey(outcome);
      const match = allowed.find((a) => outcomeKey(a) === outcomeText);
      if (allowed.length > 1) bump(stats.events, 'stale-allowed');
      else bump(stats.events, 'deterministic-access');
      // With one allowed outcome it is the fresh one: walk again only when there is a choice.
      if (allowed.length > 1 && outcomeText !== outcomeKey(freshOutcome(ref, e))) bump(stats.events, 'stale-taken');
      if (on('determinism')) {
        if (opts.guest === 'well-behaved' && allowed.length !== 1) {
          return fail('determinism', `the reference allows ${allowed.length} outcomes (${allowedKeys.join('; ')}) for a well-behaved guest`);
        }
        if (allowed.length === 1 && match === undefined) {
          return fail('determinism', `the architecture allows only ${allowedKeys[0]}, the machine gave ${outcomeText}`);
        }
      }
      if (on('refinement') && match === undefined) {
        return fail('refinement', `${outcomeText} is not allowed; allowed: ${allowedKeys.join('; ')}`);
      }
      if (on('refinement') && obs.kind === 'ok' && outcome.kind === 'ok' && e.access !== 'store') {
        const expected = readWord(ref.mem, outcome.pa & ~7n);
        if (obs.value !== expected) return fail('refinement', `loaded ${hex(obs.value)} from ${hex(outcome.pa)}, memory holds ${hex(expected)}`);
      }
      // TSP sees every guest store to a page-table page it protects: such a store never completes without an exit.
      if (on('transparency') && machine.name === 'tsp' && e.access === 'store' && outcome.kind === 'ok'
        && protectedBefore.has(outcome.pa >> PAGE_SHIFT) && !r.traps.some((t) => t.cost === 'vm-exit')) {
        return fail('transparency', `a store reached protected page-table page ${hex(outcome.pa >> PAGE_SHIFT)} without an exit`);
      }
      if (on('transparency') && obs.kind === 'fault' && !GUEST_CAUSES.has(obs.cause)) {
        return fail('transparency', `the guest saw cause ${obs.cause}, which only the hypervisor should see`);
      }
      if (on('isolation') && obs.kind === 'ok' && e.access === 'store' && outcome.kind === 'ok') {
        const gpn = outcome.pa >> PAGE_SHIFT;
        // Logged by this step: an earlier log of the page says nothing about this store.
        if (hostMapping(hostBefore, gpn).writeProtected && !(r.events.includes('dirty-logged') && host.dirty.has(gpn))) {
          return fail('isolation', `a store reached write-protected guest page ${hex(gpn)} and the dirty log missed it`);
        }
      }
      ref = referenceAccess(ref, e, match ?? outcome);
    } else if (e.kind === 'hostRemap' || e.kind === 'hostWriteProtect' || e.kind === 'hostUnprotect') {
      if (e.kind === 'hostRemap') bump(stats.events, 'host-remap');
      if (e.kind === 'hostWriteProtect') bump(stats.events, 'host-write-protect');
    } else {
      if (e.kind === 'satp') {
        const next: Satp = e.satp.mode === 'bare' ? e.satp : { ...e.satp, asid: maskAsid(cfg, e.satp.asid) };
        if (!fencedSinceSatp && JSON.stringify(next, jsonBigint) !== JSON.stringify(lastSatp, jsonBigint)) {
          bump(stats.events, 'asid-switch-no-fence');
        }
        lastSatp = next;
        fencedSinceSatp = false;
      }
      if (e.kind === 'sfence' && e.rs1 === null) fencedSinceSatp = true;
      if (on('isolation') && e.kind === 'ptStore') {
        const gpn = e.addr >> PAGE_SHIFT;
        if (hostMapping(hostBefore, gpn).writeProtected && !(r.events.includes('dirty-logged') && host.dirty.has(gpn))) {
          return fail('isolation', `a page-table store reached write-protected guest page ${hex(gpn)} and the dirty log missed it`);
        }
      }
      ref = referenceStep(ref, e);
    }

    if (opts.record) trace.push({ event: e, allowed: allowedKeys, outcome: outcomeText, result: r });

    if (e.kind === 'ptStore') written.add(e.addr >> PAGE_SHIFT);
    if (e.kind === 'hostRemap') written.add(e.gpn);
    if (e.kind === 'access' && e.access === 'store' && r.observation?.kind === 'ok') {
      const gpn = guestPageOf(host, r.observation.hpa >> PAGE_SHIFT);
      if (gpn !== null) written.add(gpn);
    }
    if (on('refinement')) {
      const m = memoryMismatch(ref, host, written);
      if (m !== null) return fail('refinement', m);
    }
    if (on('isolation')) {
      for (const t of machine.view.hostTranslations(s)) {
        if (guestPageOf(host, t.hpn) !== t.gpn) {
          return fail('isolation', `${t.what} maps guest page ${hex(t.gpn)} to host frame ${hex(t.hpn)}, which backs ${fmt(guestPageOf(host, t.hpn))}`);
        }
      }
    }
    if (on('justified-shadow')) {
      const m = unjustifiedLeaf(machine, s, ref);
      if (m !== null) return fail('justified-shadow', m);
    }
    if (on('transparency')) {
      const m = transparencyBreach(machine, e, r, protectedBefore, lastSatp, machine.view.guestSatp(s));
      if (m !== null) return fail('transparency', m);
    }
  }
  return { violation: null, stats, trace };
}

const fmt = (g: bigint | null) => (g === null ? 'no guest page' : `guest page ${hex(g)}`);
const jsonBigint = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

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

/**
 * Hidden faults and M-mode interceptions are invisible to the guest, and each
 * design exits exactly where it says it does.
 */
function transparencyBreach(
  machine: AnyMachine, e: MachineEvent, r: StepResult<unknown>, protectedBefore: ReadonlySet<bigint>, written: Satp, reads: Satp,
): string | null {
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
    const want = name === 'tsp' && protectedBefore.has(e.addr >> PAGE_SHIFT) ? 1 : 0;
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


