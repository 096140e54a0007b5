/**
 * Nested paging under Svadu (hardware A/D updating): the NPT model (model/npt.ts) on a guest
 * whose harts set A and D themselves (`svade: false`; henvcfg.ADUE=1), in lockstep with the Sv39
 * reference (spec/reference.ts), on random arbitrary-guest programs with host remaps and dirty
 * logging. After every access the model's result must be an allowed outcome *with its A/D
 * update*: of the allowed outcomes whose address (the model's host-physical address taken back to
 * guest-physical through the p2m) or fault matches, one must leave exactly the guest memory the
 * model left, on every address an allowed outcome updates and every word the access wrote. The
 * reference then advances by that outcome, and the guest's page-table and data pages must read
 * the same on both sides after every step. A/D updates are counted, with floors.
 *
 * A second test scripts the case dirty logging meets under Svadu: a load whose VS-stage A/D update
 * falls on a page-table page the host write-protects. The implicit store is refused, the fault is a
 * load guest-page fault with htval the PTE's GPA, and the hypervisor must log that page dirty, give
 * write access back and retry (not take it for a spurious fault and livelock).
 */
import { describe, expect, test } from 'vitest';
import { type Gpa, PAGE_SHIFT, gpa, hex } from '../spec/address.ts';
import type { GuestConfig } from '../spec/config.ts';
import { type AccessAction, type Outcome, outcomeKey } from '../spec/guest-action.ts';
import { type Memory, pageWords, pagesOf, readWord, writeWord } from '../spec/memory.ts';
import { PTE_A, PTE_D, encodePte, isValidLeaf } from '../spec/pte.ts';
import {
  type ReferenceState, OutsideUniverseError, allowedOutcomes, initialReference, referenceAccess, referenceStep,
} from '../spec/reference.ts';
import { CAUSE } from '../spec/walk.ts';
import { type HostState, guestPageOf, guestRead, hostMapping } from '../model/host.ts';
import { type AnyMachine, LivelockError, type MachineEvent, type Observation, erase } from '../model/machine.ts';
import { npt } from '../model/npt.ts';
import { samplePrograms } from './commands.ts';
import { ALL_FRAMES, PT_FRAMES, VAS, bootMemory, guestConfig, pteAddress } from './pools.ts';
import { describeEvent } from './run.ts';
import { envCount, envSeed } from './seed.ts';

const FILE = 'properties/npt-svadu.test.ts';
const seed = envSeed('SSP_SPEC_SEED');
const runs = envCount('SSP_SPEC_RUNS', 150);
const maxCommands = envCount('SSP_SPEC_STEPS', 50);
console.log(`${FILE}: seed ${seed}, ${runs} programs of at most ${maxCommands} commands (reproduce: SSP_SPEC_SEED=${seed} SSP_SPEC_RUNS=${runs} SSP_SPEC_STEPS=${maxCommands} npx vitest run ${FILE})`);

/** The suite's guest machine with Svadu: the hart sets A/D (both stages; the NPT G-stage leaves have them set already). */
const svadu: GuestConfig = { ...guestConfig, svade: false };
const machine: AnyMachine = erase(npt);

/**
 * The boot memory with A and D clear on every leaf, so that first touches update A and first
 * stores D (the generator's own leaves mostly have both set). Programs are resolved against the
 * guest's bookkeeping of bootMemory(), which walks any valid leaf alike: the same events.
 */
function bootMemoryWithoutAD(): Memory {
  let m = bootMemory();
  for (const [page, words] of pagesOf(m)) {
    for (const [slot, word] of words) if (isValidLeaf(word)) m = writeWord(m, gpa((page << PAGE_SHIFT) + BigInt(slot) * 8n), word & ~(PTE_A | PTE_D));
  }
  return m;
}

interface Stats {
  programs: number;
  accesses: number;
  /** Accesses whose allowed outcome, the one the model took, carries an A/D update. */
  adUpdates: number;
  /** Accesses with more than one allowed outcome (a choice the TLB could make). */
  choices: number;
  /**
   * VS-stage A/D updates the G-stage refused (the hart's lookup of the PTE's GPA as an implicit store
   * failed: a page-table page write-protected for dirty logging), which the hypervisor resolved.
   */
  adUpdatesRefused: number;
  /** Of those, during loads and fetches: a guest-page fault of the original access type, not a store's. */
  adUpdatesRefusedOnLoad: number;
  hostWriteProtects: number;
}

/** The guest-physical outcome the model's observation stands for (decision 0005), or why there is none. */
function observedOutcome(host: HostState, o: Observation): Outcome | string {
  if (o.kind === 'fault') return { kind: 'fault', cause: o.cause, tval: o.tval };
  const gpn = guestPageOf(host, o.hpa >> PAGE_SHIFT);
  if (gpn === null) return `the access reached host frame ${hex(o.hpa >> PAGE_SHIFT)}, which backs no guest page`;
  return { kind: 'ok', pa: gpa((gpn << PAGE_SHIFT) | (o.hpa & 0xfffn)), adUpdate: null };
}

/** Same address or same fault, whatever the A/D update. */
const sameResult = (a: Outcome, b: Outcome): boolean =>
  a.kind === 'ok' ? b.kind === 'ok' && a.pa === b.pa : b.kind === 'fault' && a.cause === b.cause && a.tval === b.tval;

const updateOf = (o: Outcome): { readonly addr: Gpa; readonly pte: bigint } | null => o.adUpdate ?? null;

/**
 * The allowed outcome the model took, and the reference after it: of those with the model's address
 * or fault, the one whose writes (its A/D update, then a store's word) leave the guest memory the
 * model left, on every word an allowed outcome's A/D update or this access could write. A model that
 * updated a PTE the outcome does not, or missed an update it owes, or wrote a different value, has none.
 */
function takenOutcome(ref: ReferenceState, a: AccessAction, allowed: readonly Outcome[], observed: Outcome, hostAfter: HostState):
  { readonly outcome: Outcome; readonly after: ReferenceState } | string {
  const words = new Set<Gpa>(allowed.flatMap((o) => {
    const u = updateOf(o);
    return u === null ? [] : [u.addr];
  }));
  if (observed.kind === 'ok' && a.access === 'store') words.add(gpa(observed.pa & ~7n));
  const candidates = allowed.filter((o) => sameResult(o, observed));
  if (candidates.length === 0) return `${outcomeKey(observed)} is not allowed; allowed: ${allowed.map(outcomeKey).join(' | ')}`;
  const mismatches: string[] = [];
  for (const o of candidates) {
    const after = referenceAccess(ref, a, o);
    const differ = [...words].filter((w) => readWord(after.mem, w) !== guestRead(hostAfter, w));
    if (differ.length === 0) return { outcome: o, after };
    mismatches.push(`${outcomeKey(o)} leaves ${differ.map((w) => `[${hex(w)}]=${hex(readWord(after.mem, w))}`).join(', ')}`);
  }
  const model = [...words].map((w) => `[${hex(w)}]=${hex(guestRead(hostAfter, w))}`).join(', ');
  return `the model's memory after the access (${model}) matches no allowed outcome with its result: ${mismatches.join('; ')}`;
}

/** The guest's pages (page tables and data) as the reference holds them against the model's guest memory. */
function memoryMismatch(ref: ReferenceState, host: HostState): string | null {
  for (const gpn of ALL_FRAMES) {
    const want = pageWords(ref.mem, gpn);
    const got = pageWords(host.mem, hostMapping(host, gpn).hpn);
    for (const slot of new Set([...want.keys(), ...got.keys()])) {
      if ((want.get(slot) ?? 0n) !== (got.get(slot) ?? 0n)) {
        return `guest memory differs at ${hex((gpn << PAGE_SHIFT) + BigInt(slot) * 8n)}: the model holds ${hex(got.get(slot) ?? 0n)}, the reference ${hex(want.get(slot) ?? 0n)}`;
      }
    }
  }
  return null;
}

/** Run one program; the first violation (with the steps so far), or null. */
function runProgram(events: readonly MachineEvent[], stats: Stats): string | null {
  stats.programs++;
  const initial = bootMemoryWithoutAD();
  let s = machine.init(svadu, initial);
  let ref = initialReference(svadu, VAS, initial);
  const fail = (i: number, message: string): string =>
    `step ${i}: ${message}\n${events.slice(0, i + 1).map((e, k) => `  ${k}  ${describeEvent(e)}`).join('\n')}`;
  for (const [i, e] of events.entries()) {
    let r;
    try {
      r = machine.step(s, e);
    } catch (err) {
      if (err instanceof LivelockError) return fail(i, `the model could not complete the step: ${err.message}`);
      throw err;
    }
    const hostAfter = machine.view.host(r.state);
    if (e.kind === 'hostWriteProtect') stats.hostWriteProtects++;
    if (e.kind === 'access') {
      stats.accesses++;
      if (r.observation === null) return fail(i, 'the model observed nothing for an access');
      let allowed: Outcome[];
      try {
        allowed = allowedOutcomes(ref, e);
      } catch (err) {
        if (err instanceof OutsideUniverseError) return fail(i, err.message);
        throw err;
      }
      if (allowed.length > 1) stats.choices++;
      const observed = observedOutcome(hostAfter, r.observation);
      if (typeof observed === 'string') return fail(i, observed);
      const taken = takenOutcome(ref, e, allowed, observed, hostAfter);
      if (typeof taken === 'string') return fail(i, taken);
      if (updateOf(taken.outcome) !== null) stats.adUpdates++;
      const refused = r.hart.some((h) => h.kind === 'g-lookup' && !h.lookup.explicit && h.lookup.ctx.kind === 'store' && h.lookup.outcome.kind !== 'ok');
      if (refused) {
        stats.adUpdatesRefused++;
        if (e.access !== 'store') stats.adUpdatesRefusedOnLoad++;
      }
      // A load reads the word as memory holds it after the translation's A/D update.
      if (r.observation.kind === 'ok' && taken.outcome.kind === 'ok' && e.access !== 'store') {
        const want = readWord(taken.after.mem, gpa(taken.outcome.pa & ~7n));
        if (r.observation.value !== want) return fail(i, `loaded ${hex(r.observation.value)} from ${hex(taken.outcome.pa)}, memory holds ${hex(want)}`);
      }
      ref = taken.after;
    } else if (e.kind !== 'hostRemap' && e.kind !== 'hostWriteProtect' && e.kind !== 'hostUnprotect') {
      ref = referenceStep(ref, e);
    }
    const m = memoryMismatch(ref, hostAfter);
    if (m !== null) return fail(i, m);
    s = r.state;
  }
  return null;
}

/** The counts per 100 programs. */
const per100 = (s: Stats): Record<string, number> =>
  Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'programs').map(([k, v]) => [k, Math.round((v * 100) / Math.max(1, s.programs))]));

/**
 * Per 100 programs: about a third of the lowest rate seeds 100..129 gave at 150 programs of at most
 * 50 commands (adUpdates 95, choices 173). Refused VS-stage updates are counted without a floor: 0 to
 * 2 per 100 programs (40 in those 4,500 programs, 22 of them on loads or fetches); the scripted test
 * below makes one happen every run.
 */
const FLOORS: Readonly<Record<string, number>> = { adUpdates: 32, choices: 58 };

describe('nested paging under Svadu refines the Sv39 reference, A/D updates included', () => {
  test('every access is an allowed outcome with its A/D update, and guest memory agrees after every step', () => {
    const stats: Stats = { programs: 0, accesses: 0, adUpdates: 0, choices: 0, adUpdatesRefused: 0, adUpdatesRefusedOnLoad: 0, hostWriteProtects: 0 };
    for (const [k, program] of samplePrograms('arbitrary', runs, seed, maxCommands).entries()) {
      const violation = runProgram(program, stats);
      if (violation !== null) throw new Error(`program ${k} of seed ${seed}: ${violation}`);
    }
    const rates = per100(stats);
    console.log(`${FILE}: ${stats.programs} programs, ${stats.accesses} accesses, ${stats.adUpdates} A/D updates; per 100 programs ${JSON.stringify(rates)}`);
    // Below a floor the generator has stopped reaching the case and the test would pass vacuously.
    for (const [k, floor] of Object.entries(FLOORS)) expect(rates[k] ?? 0, `${k} per 100 programs`).toBeGreaterThanOrEqual(floor);
  }, 10 * 60_000);

  test('a load whose VS-stage A/D update meets a write-protected page-table page: logged dirty, write access back, retried', () => {
    // Boot address space 0: VA 0x4000_1000 -> root 0x80010 -> 0x80011 -> leaf at 0x80012[1] (-> data 0x80400).
    const leafAddr = pteAddress(PT_FRAMES[2] ?? 0n, 1n);
    const va = VAS[0];
    if (va === undefined) throw new Error('no pool VA');
    const noA = encodePte({ ppn: 0x80400n, r: true, w: true });
    const events: MachineEvent[] = [
      { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: PT_FRAMES[0] ?? 0n } },
      { kind: 'ptStore', addr: leafAddr, value: noA },
      { kind: 'hostWriteProtect', gpn: leafAddr >> PAGE_SHIFT },
      { kind: 'access', va, access: 'load', priv: 'S', value: 0n },
    ];
    let s = machine.init(svadu, bootMemory());
    let last;
    for (const e of events) {
      last = machine.step(s, e);
      s = last.state;
    }
    if (last === undefined) throw new Error('no step ran');
    expect(last.observation).toMatchObject({ kind: 'ok' });
    // The first attempt raised a load guest-page fault (cause 21) at the PTE's page; the hypervisor logged it.
    expect(last.traps.map((t) => t.cause)).toEqual([CAUSE.loadGuestPageFault]);
    expect(last.events).toContain('dirty-logged');
    const host = machine.view.host(s);
    expect(host.dirty.has(leafAddr >> PAGE_SHIFT)).toBe(true);
    expect(hostMapping(host, leafAddr >> PAGE_SHIFT).writeProtected).toBe(false);
    // The update landed: A set, D still clear (a load).
    expect(guestRead(host, leafAddr)).toBe(noA | 0x40n);
    // And the reference agrees: the same program passes the lockstep check.
    const stats: Stats = { programs: 0, accesses: 0, adUpdates: 0, choices: 0, adUpdatesRefused: 0, adUpdatesRefusedOnLoad: 0, hostWriteProtects: 0 };
    expect(runProgram(events, stats)).toBeNull();
    expect(stats).toMatchObject({ adUpdates: 1, adUpdatesRefused: 1, adUpdatesRefusedOnLoad: 1 });
  });
});


