/**
 * What A/D emulation costs (`npm run bench:ad`): a guest that ages its pages and
 * writes them back, as Linux's reclaim and writeback do, on each design, as a Svade
 * guest (A=0, or a store with D=0, is a page fault the guest's handler fixes: it sets
 * the bits, fences the page and retries) and as a Svadu one (the hart sets them; under
 * shadow paging the hypervisor does it for the guest, decision 0013). Every property of
 * the model is checked at every step; the figures are the exits, M-mode traps,
 * faults the guest takes and page-walk references.
 *
 * The workload: PAGES pages mapped clean and unaccessed (A=D=0); ROUNDS rounds of
 * "store to every page, then clear A and D in every leaf and fence that page".
 */
import { type Gva, gva } from '../spec/address.ts';
import { type Memory, writeWord } from '../spec/memory.ts';
import { PTE_A, PTE_D, encodePte } from '../spec/pte.ts';
import { erase, type MachineEvent } from '../model/machine.ts';
import { npt } from '../model/npt.ts';
import { tsp } from '../model/tsp.ts';
import { ssp } from '../model/ssp.ts';
import type { AdMode } from '../properties/pools.ts';
import { L0, ROOT, runScripted, slot, walkMemory } from '../properties/scripted.ts';
import { isMain } from '../cli/command.ts';

const PAGES = 4;
const ROUNDS = 4;
const vaOf = (k: number): Gva => gva(0x4000_1000n + BigInt(k) * 0x1000n);
const leafAddr = (k: number) => slot(L0, BigInt(k + 1));
const clean = (k: number): bigint => encodePte({ ppn: 0x80400n + BigInt(k), r: true, w: true });

function memory(): Memory {
  let m = walkMemory(clean(0));
  for (let k = 1; k < PAGES; k++) m = writeWord(m, leafAddr(k), clean(k));
  return m;
}

/** The program: the guest's own fault handling spelled out for Svade, nothing for Svadu. */
function program(ad: AdMode): MachineEvent[] {
  const events: MachineEvent[] = [{ kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: ROOT } }];
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < PAGES; k++) {
      const store: MachineEvent = { kind: 'access', va: vaOf(k), access: 'store', priv: 'S', value: BigInt(round * 16 + k + 1) };
      events.push(store);
      if (ad === 'svade') {
        // The store faulted (A or D clear): the handler sets both, fences the page, and the store runs again.
        events.push({ kind: 'ptStore', addr: leafAddr(k), value: clean(k) | PTE_A | PTE_D }, { kind: 'sfence', rs1: vaOf(k), rs2: null }, store);
      }
    }
    // Writeback and aging: clear A and D in every leaf, fence each page (Linux: ptep_clear_flush_young, clear_refs).
    for (let k = 0; k < PAGES; k++) events.push({ kind: 'ptStore', addr: leafAddr(k), value: clean(k) }, { kind: 'sfence', rs1: vaOf(k), rs2: null });
  }
  return events;
}

export interface AdCost {
  readonly model: string;
  readonly ad: AdMode;
  readonly steps: number;
  readonly pageWrites: number;
  readonly vmExits: number;
  readonly mTraps: number;
  readonly guestFaults: number;
  readonly walkRefs: number;
  readonly adEmulated: number;
}

export function adCost(): AdCost[] {
  const out: AdCost[] = [];
  for (const m of [erase(npt), erase(tsp), erase(ssp)]) {
    for (const ad of ['svade', 'svadu'] as const) {
      const events = program(ad);
      const r = runScripted(m, events, memory(), Array.from({ length: PAGES }, (_, k) => vaOf(k)), ad);
      if (r.violation !== null) throw new Error(`${m.name} (${ad}): ${r.violation.property} fails at step ${r.violation.step}: ${r.violation.message}`);
      const faults = r.trace.filter((t) => t.kind === 'step' && t.record.result.observation?.kind === 'fault').length;
      const n = (e: string) => r.stats.events.get(e as never) ?? 0;
      out.push({
        model: m.name, ad, steps: events.length, pageWrites: PAGES * ROUNDS, vmExits: n('vm-exit'), mTraps: n('m-trap'), guestFaults: faults,
        walkRefs: n('walk-refs'), adEmulated: n('ad-emulated'),
      });
    }
  }
  return out;
}

if (isMain(import.meta.url)) {
  console.log(`A/D cost: ${PAGES} pages, ${ROUNDS} rounds of "store to every page, clear A and D, fence each page", every property checked`);
  console.log('model  A/D    steps  VM exits  M-mode traps  faults to the guest  walk refs  A/D set by the hypervisor');
  for (const c of adCost()) {
    console.log(`${c.model.padEnd(6)} ${c.ad.padEnd(6)} ${String(c.steps).padStart(5)} ${String(c.vmExits).padStart(9)} ${String(c.mTraps).padStart(13)} ${String(c.guestFaults).padStart(20)} ${String(c.walkRefs).padStart(10)} ${String(c.adEmulated).padStart(26)}`);
  }
}
