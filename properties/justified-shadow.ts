/**
 * Every valid shadow leaf maps what the guest walk composed with the host mapping gave as of its last sync, with permissions a subset of guest leaf and host mapping, each stricter bit justified, and G as the path passes it down.
 *
 * For the loaded shadow, "as of its last sync" must still be a walk the reference
 * allows now: a lazily synchronised shadow may lag memory only as far as a TLB may.
 */
import { type Gva, PAGE_SHIFT, hex } from '../spec/address.ts';
import { isValidLeaf, passesStep3, pteA, pteD, pteG, pteR, pteU, pteW, pteX } from '../spec/pte.ts';
import { type ReferenceState, walkAllowed } from '../spec/reference.ts';
import { isMisalignedSuperpage, leafPhysicalAddress } from '../spec/walk.ts';
import { hostMapping } from '../model/host.ts';
import type { AnyMachine } from '../model/machine.ts';
import { commonFloors } from './floors.ts';
import { SHADOW_MODELS, everyStep, property } from './property.ts';

export const justifiedShadow = property({
  name: 'justified-shadow',
  sentence: 'Every valid shadow leaf maps what the guest walk composed with the host mapping gave as of its last sync, with permissions a subset of guest leaf and host mapping, each stricter bit justified, and G as the path passes it down.',
  models: SHADOW_MODELS,
  guests: 'arbitrary',
  floors: commonFloors,
  // With no reference after the step (the run ends there) there is nothing to justify a leaf against.
  ...everyStep((r) => (r.refAfter === null ? null : unjustifiedLeaf(r.machine, r.after, r.refAfter))),
});

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
