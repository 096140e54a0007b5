/**
 * The guest never reaches a host frame that does not currently back one of its own pages, nor one that holds the hypervisor's own tables, and no store reaches a write-protected page unseen.
 *
 * "Reaches" covers what is cached as well as what is accessed: a G-stage table or
 * TLB entry, combined entry, shadow leaf or hardware TLB entry naming the wrong
 * frame is a violation before any access uses it. A frame that holds a shadow or
 * G-stage table is never the guest's, even if (by a hypervisor's mistake) it also
 * backs a guest page: a guest that can write its own shadow table owns the host.
 */
import { PAGE_SHIFT, hex } from '../spec/address.ts';
import { describeAction } from '../spec/guest-action.ts';
import { inRam } from '../spec/config.ts';
import { type HostState, bootFrame, guestPageOf, hostMapping } from '../model/host.ts';
import type { HostTranslationView } from '../model/machine.ts';
import { commonFloors } from './floors.ts';
import { ALL_MODELS, everyStep, property } from './property.ts';
import { type StepRecord, unfollowable } from './record.ts';

export const isolation = property({
  name: 'isolation',
  sentence: 'The guest never reaches a host frame that does not currently back one of its own pages, nor one that holds the hypervisor\'s own tables, and no store reaches a write-protected page unseen.',
  models: ALL_MODELS,
  guests: 'arbitrary',
  floors: (m) => ({ ...commonFloors(m), 'dirty-logged': 10 }),
  ...everyStep((r) => unseenStore(r) ?? tableReached(r) ?? strayTranslation(r)),
});

/** An access that left the guest, or a store that reached a write-protected page without this step logging it. */
function unseenStore(r: StepRecord): string | null {
  // Logged by this step: an earlier log of the page says nothing about this store.
  const logged = (gpn: bigint) => r.result.events.includes('dirty-logged') && r.hostAfter.dirty.has(gpn);
  const a = r.access;
  if (a !== null) {
    if (a.reached.kind === 'unbacked') return unfollowable(a);
    if (a.reached.kind === 'guest' && a.reached.observation.kind === 'ok' && a.action.access === 'store' && a.reached.outcome.kind === 'ok') {
      const gpn = a.reached.outcome.pa >> PAGE_SHIFT;
      if (hostMapping(r.hostBefore, gpn).writeProtected && !logged(gpn)) return `a store reached write-protected guest page ${hex(gpn)} and the dirty log missed it`;
    }
  }
  // Svadu: the A/D update is a store too (step 7), whoever makes it: the hart (nested paging) or the hypervisor for it.
  const ad = a?.match?.adUpdate;
  if (ad != null && inRam(r.refBefore.cfg, ad.addr)) {
    const gpn = ad.addr >> PAGE_SHIFT;
    if (hostMapping(r.hostBefore, gpn).writeProtected && !logged(gpn)) return `an A/D update reached write-protected guest page ${hex(gpn)} and the dirty log missed it`;
  }
  if (r.event.kind === 'ptStore') {
    const gpn = r.event.addr >> PAGE_SHIFT;
    if (hostMapping(r.hostBefore, gpn).writeProtected && !logged(gpn)) return `a page-table store reached write-protected guest page ${hex(gpn)} and the dirty log missed it`;
  }
  return null;
}

const backing = (g: bigint | null) => (g === null ? 'no guest page' : `guest page ${hex(g)}`);

/** An access that touched a frame holding a hypervisor table. */
function tableReached(r: StepRecord): string | null {
  const a = r.access;
  if (a === null || a.reached.kind !== 'guest' || a.reached.observation.kind !== 'ok') return null;
  const hpn = a.reached.observation.hpa >> PAGE_SHIFT;
  const tables = r.machine.view.tableFrames(r.before);
  return tables.has(hpn) || r.machine.view.tableFrames(r.after).has(hpn)
    ? `${describeAction(a.action)} reached host frame ${hex(hpn)}, which holds a hypervisor page table`
    : null;
}

/** A cached or tabled translation that names a host frame not backing the guest page it claims, or a table frame. */
function strayTranslation(r: StepRecord): string | null {
  return strayTranslationIn(r.machine.view.tableFrames(r.after), r.machine.view.hostTranslations(r.after), r.hostAfter);
}

/** The same check over the table frames and translations of any state (the several-hart runner asks it after SBI calls too). */
export function strayTranslationIn(tables: ReadonlySet<bigint>, translations: readonly HostTranslationView[], hostAfter: HostState): string | null {
  const r = { hostAfter };
  for (const t of translations) {
    for (const k of pagesToCheck(t, tables, r.hostAfter)) {
      const hpn = t.hpn + k;
      const gpn = t.gpn + k;
      if (tables.has(hpn)) return `${t.what} maps guest page ${hex(gpn)} to host frame ${hex(hpn)}, which holds a hypervisor page table`;
      if (guestPageOf(r.hostAfter, hpn) !== gpn) {
        return `${t.what} maps guest page ${hex(gpn)} to host frame ${hex(hpn)}, which backs ${backing(guestPageOf(r.hostAfter, hpn))}`;
      }
    }
  }
  return null;
}

/**
 * The pages of a translation that can be wrong, in ascending order. A superpage that maps its
 * guest pages to their boot frames (bootFrame) is right on every page of RAM the p2m has not
 * moved and no moved page or hypervisor table has taken the frame of; only those pages need a
 * look (a 2 MiB G-stage leaf is 512 pages, every step). Any other translation: every page.
 */
function pagesToCheck(t: HostTranslationView, tables: ReadonlySet<bigint>, h: HostState): Iterable<bigint> {
  const all = function* (): Generator<bigint> {
    for (let k = 0n; k < t.pages; k++) yield k;
  };
  const last = t.gpn + t.pages - 1n;
  if (t.pages === 1n || t.hpn !== bootFrame(t.gpn) || !inRam(h.cfg, t.gpn << PAGE_SHIFT) || !inRam(h.cfg, last << PAGE_SHIFT)) return all();
  const ks = new Set<bigint>();
  const inside = (k: bigint): void => {
    if (k >= 0n && k < t.pages) ks.add(k);
  };
  for (const hpn of tables) inside(hpn - t.hpn);
  for (const hpn of h.backs.keys()) inside(hpn - t.hpn);
  for (const gpn of h.p2m.keys()) inside(gpn - t.gpn);
  return [...ks].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
