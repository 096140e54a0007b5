/**
 * The guest never reaches a host frame that does not currently back one of its own pages, and no store reaches a write-protected page unseen.
 *
 * "Reaches" covers what is cached as well as what is accessed: a G-stage TLB
 * entry, shadow leaf or hardware TLB entry naming the wrong frame is a violation
 * before any access uses it.
 */
import { PAGE_SHIFT, hex } from '../spec/address.ts';
import { guestPageOf, hostMapping } from '../model/host.ts';
import { commonFloors } from './floors.ts';
import { ALL_MODELS, everyStep, property } from './property.ts';
import { type StepRecord, unfollowable } from './record.ts';

export const isolation = property({
  name: 'isolation',
  sentence: 'The guest never reaches a host frame that does not currently back one of its own pages, and no store reaches a write-protected page unseen.',
  models: ALL_MODELS,
  guests: 'arbitrary',
  floors: (m) => ({ ...commonFloors(m), 'dirty-logged': 10 }),
  ...everyStep((r) => unseenStore(r) ?? strayTranslation(r)),
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
  if (r.event.kind === 'ptStore') {
    const gpn = r.event.addr >> PAGE_SHIFT;
    if (hostMapping(r.hostBefore, gpn).writeProtected && !logged(gpn)) return `a page-table store reached write-protected guest page ${hex(gpn)} and the dirty log missed it`;
  }
  return null;
}

const backing = (g: bigint | null) => (g === null ? 'no guest page' : `guest page ${hex(g)}`);

/** A cached translation that names a host frame not backing the guest page it claims. */
function strayTranslation(r: StepRecord): string | null {
  for (const t of r.machine.view.hostTranslations(r.after)) {
    if (guestPageOf(r.hostAfter, t.hpn) !== t.gpn) {
      return `${t.what} maps guest page ${hex(t.gpn)} to host frame ${hex(t.hpn)}, which backs ${backing(guestPageOf(r.hostAfter, t.hpn))}`;
    }
  }
  return null;
}
