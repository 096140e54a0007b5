/**
 * No lost dirty page: after a store the architecture lets through only with D set in a leaf in memory (Svadu, no allowed stale leaf with D set), the guest's PTE has D set, so writeback finds the page.
 *
 * A guest with hardware A/D updating (Svadu) clears D once it has written a page
 * back and fences; from then on its next store to the page must leave D set in
 * memory. Under shadow paging the hart sets D in the shadow, which the guest never
 * reads, so the hypervisor must (decision 0013); a page written and left clean is
 * lost data no load will notice until the host runs out of memory. The refinement
 * property compares memory too and sees the same PTE word differ; this one says
 * what it means, and counts how often the obligation arose (`dirty-required`).
 */
import { PAGE_SHIFT, hex } from '../spec/address.ts';
import { inRam } from '../spec/config.ts';
import { pteD } from '../spec/pte.ts';
import { guestRead } from '../model/host.ts';
import { type Floors, commonFloors } from './floors.ts';
import { ALL_MODELS, everyStep, property } from './property.ts';
import { type StepRecord, dirtyRequired } from './record.ts';
import type { ModelName } from '../model/machine.ts';

/**
 * Per 100 programs, half of them Svadu: about half the worst of five seeds at the
 * test budget of 150 programs (TSP and SSP: 11 to 25 stores that had to set D, 23
 * to 42 accesses that set A or D).
 */
const floors = (m: ModelName): Floors => ({ ...commonFloors(m), 'dirty-required': 6, 'ad-update': 12 });

export const noLostDirty = property({
  name: 'no-lost-dirty',
  sentence: 'After a store the architecture lets through only with D set in a leaf in memory (Svadu, no allowed stale leaf with D set), the guest\'s PTE has D set, so writeback finds the page.',
  models: ALL_MODELS,
  guests: 'arbitrary',
  floors,
  ...everyStep(lostDirty),
});

function lostDirty(r: StepRecord): string | null {
  const a = r.access;
  if (a === null) return null;
  const ptes = dirtyRequired(a);
  if (ptes === null || a.reached.kind !== 'guest' || a.reached.outcome.kind !== 'ok') return null;
  const kept = ptes.filter((addr) => inRam(r.refBefore.cfg, addr));
  if (kept.length === 0 || kept.some((addr) => pteD(guestRead(r.hostAfter, addr)))) return null;
  const page = a.reached.outcome.pa >> PAGE_SHIFT;
  return `a store to ${hex(a.action.va)} wrote guest page ${hex(page)}, and the architecture allowed it only through a leaf it sets D in `
    + `(${kept.map((x) => `PTE ${hex(x)}`).join(' or ')}), yet D is clear there after the step: writeback would miss the page`;
}
