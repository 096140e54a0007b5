/**
 * Every shadow entry mirrors the guest as of its last sync: each valid shadow pointer leads to the shadow page of the guest table (or superpage) the guest PTE it mirrors names, at the next level and VA prefix, with its G bit; each valid shadow leaf maps what the guest walk composed with the host mapping gave, with permissions a subset of guest leaf and host mapping, each stricter bit justified, and G as the path passes it down.
 *
 * For the loaded shadow, "as of its last sync" must still be a walk the reference
 * allows now: a lazily synchronised shadow may lag memory only as far as a TLB may;
 * and no shadow page a fence left unsync may be reachable from it.
 */
import { type Gva, PAGE_SHIFT, gpa, hex, vpnOf } from '../spec/address.ts';
import { isValidLeaf, isValidPointer, passesStep3, pteA, pteD, pteG, ptePpn, pteR, pteU, pteW, pteX } from '../spec/pte.ts';
import { type ReferenceState, walkAllowed } from '../spec/reference.ts';
import { isMisalignedSuperpage, leafPhysicalAddress } from '../spec/walk.ts';
import { hostMapping } from '../model/host.ts';
import type { AnyMachine } from '../model/machine.ts';
import { commonFloors } from './floors.ts';
import { SHADOW_MODELS, everyState, property } from './property.ts';

export const justifiedShadow = property({
  name: 'justified-shadow',
  sentence: 'Every shadow entry mirrors the guest as of its last sync: each valid shadow pointer leads to the shadow page of the guest table (or superpage) the guest PTE it mirrors names, at the next level and VA prefix, with its G bit; each valid shadow leaf maps what the guest walk composed with the host mapping gave, with permissions a subset of guest leaf and host mapping, each stricter bit justified, and G as the path passes it down.',
  models: SHADOW_MODELS,
  guests: 'arbitrary',
  floors: commonFloors,
  // With no reference after the step (the run ends there) there is nothing to justify a leaf against.
  ...everyState((r) => (r.refAfter === null ? null : unjustifiedPointer(r.machine, r.after) ?? unjustifiedLeaf(r.machine, r.after, r.refAfter))),
});

/**
 * A shadow pointer that does not lead where the guest PTE it mirrors says, or an
 * unsync shadow page the loaded shadow reaches. Pointers carry no R/W/X and U/A/D
 * are reserved in them (Sv39 PTE format): what a path passes down is the table it
 * names and G.
 */
function unjustifiedPointer(machine: AnyMachine, s: unknown): string | null {
  const pages = new Map(machine.view.shadowPages(s).map((p) => [p.frame, p] as const));
  for (const sp of pages.values()) {
    for (const e of sp.entries) {
      if (!isValidPointer(e.pte)) continue;
      const where = `shadow page ${hex(sp.frame)} (L${sp.level}) entry ${e.slot}`;
      const child = pages.get(ptePpn(e.pte));
      if (child === undefined) return `${where} points to ${hex(ptePpn(e.pte))}, which is not a shadow page`;
      if (child.level !== sp.level - 1) return `${where} points to a level-${child.level} shadow page`;
      if (child.prefix !== ((sp.prefix << 9n) | BigInt(e.slot))) return `${where} points to the shadow page of prefix ${hex(child.prefix)}, not ${hex((sp.prefix << 9n) | BigInt(e.slot))}`;
      const src = child.source;
      if (sp.source.kind === 'table' && e.guestPteAddr !== gpa((sp.source.gfn << PAGE_SHIFT) + BigInt(e.slot) * 8n)) {
        return `${where} mirrors guest PTE ${hex(e.guestPteAddr)}, not the one at that slot of guest table ${hex(sp.source.gfn)}`;
      }
      if (src.kind === 'table') {
        if (!isValidPointer(e.guestPte) || ptePpn(e.guestPte) !== src.gfn) return `${where} leads to the shadow of guest table ${hex(src.gfn)}, the guest PTE it mirrors is ${hex(e.guestPte)}`;
      } else if (src.leaf !== e.guestPte || !isValidLeaf(src.leaf)) {
        return `${where} leads to a split of guest leaf ${hex(src.leaf)}, the guest PTE it mirrors is ${hex(e.guestPte)}`;
      }
      const g = passesStep3(e.guestPte) && pteG(e.guestPte);
      if (pteG(e.pte) !== g) return `${where} has G=${pteG(e.pte)}, the guest PTE it mirrors has G=${g}`;
      // Tags (SSP): a shadow page holds translations of one ASID, or GLOBAL below a G bit.
      if (sp.tag !== null && child.tag !== (sp.tag === 'global' || g ? 'global' : sp.tag)) return `${where} leads to a shadow page tagged ${String(child.tag)} under a tag-${String(sp.tag)} page with G=${g}`;
    }
  }
  const { roots, loaded } = machine.view.shadowRoots(s);
  const root = loaded === null ? undefined : roots.get(loaded);
  const seen = new Set<bigint>();
  const visit = (frame: bigint): string | null => {
    const sp = pages.get(frame);
    if (sp === undefined || seen.has(frame)) return null;
    seen.add(frame);
    if (sp.unsync) return `shadow page ${hex(frame)} is unsync and the loaded shadow reaches it`;
    for (const e of sp.entries) {
      const m = isValidPointer(e.pte) ? visit(ptePpn(e.pte)) : null;
      if (m !== null) return m;
    }
    return null;
  };
  return root === undefined ? null : visit(root);
}

function unjustifiedLeaf(machine: AnyMachine, s: unknown, ref: ReferenceState): string | null {
  const host = machine.view.host(s);
  const prot = machine.view.protectedPageTables(s);
  for (const l of machine.view.shadowLeaves(s)) {
    const where = `shadow ${l.shadow} leaf for ${hex(l.va)}${l.pages > 1n ? ` (${l.pages} pages)` : ''}`;
    const guestLeaf = l.guestPath[l.guestPath.length - 1];
    if (guestLeaf === undefined || !isValidLeaf(guestLeaf.pte)) return `${where} has no guest leaf behind it`;
    const pte = guestLeaf.pte;
    // A shadow superpage lies inside its guest superpage: never bigger than the guest leaf it mirrors.
    if (l.level > guestLeaf.level) return `${where} is a level-${l.level} leaf for a level-${guestLeaf.level} guest leaf`;
    const gpn = leafPhysicalAddress(l.va, pte, guestLeaf.level) >> PAGE_SHIFT;
    if (gpn !== l.gpn) return `${where} claims guest page ${hex(l.gpn)}, its guest leaf gives ${hex(gpn)}`;
    if (l.r !== pteR(pte) || l.x !== pteX(pte) || l.u !== pteU(pte)) return `${where} has R/X/U ${[l.r, l.x, l.u]} but its guest leaf has ${[pteR(pte), pteX(pte), pteU(pte)]}`;
    // Steps 6 and 7: no shadow leaf from a misaligned superpage, or from a leaf with A clear: Svade faults there,
    // and under Svadu the access that sets A must exit to the hypervisor, the guest's hart being the shadow's.
    if (isMisalignedSuperpage(pte, guestLeaf.level)) return `${where} comes from a misaligned superpage`;
    if (!pteA(pte)) return `${where} comes from a guest leaf with A clear`;
    // W only with D: a store through D=0 faults (Svade) or must exit so that D is set in the guest's PTE (Svadu).
    const guestW = pteW(pte) && pteD(pte);
    // Every page it maps: backed by the frame the p2m gives, W only where guest, host and page-table protection allow it.
    for (let k = 0n; k < l.pages; k++) {
      const page = l.gpn + k;
      const m = hostMapping(host, page);
      if (l.hpn + k !== m.hpn) return `${where} maps guest page ${hex(page)} to host frame ${hex(l.hpn + k)}, the p2m backs it with ${hex(m.hpn)}`;
      if (l.w && (!guestW || m.writeProtected || prot.has(page))) return `${where} is writable without the guest, the host and the page-table protection all allowing it`;
      if (!l.w && guestW && !m.writeProtected && !prot.has(page)) return `${where} is read-only with no reason (guest W, host writable, not a page table)`;
    }
    const g = l.guestPath.some((p) => passesStep3(p.pte) && pteG(p.pte));
    if (l.g !== g) return `${where} has G=${l.g}, the guest path passes down G=${g}`;
    // The reference is exact on its universe only: a leaf for pages outside it (a fence of a page next to a pool
    // address syncs one, several harts' SBI ranges among them) is not judged by the walk it came from.
    if (l.loaded && inUniverse(ref, l.va, l.pages) && !walkAllowed(ref, l.va as Gva, l.guestPath)) {
      return `${where} was synchronised from a guest walk the architecture no longer allows (${l.guestPath.map((p) => hex(p.pte)).join(' -> ')})`;
    }
  }
  return null;
}

/** Whether a leaf mapping `pages` pages from `va` covers a page of the reference's universe. */
function inUniverse(ref: ReferenceState, va: Gva, pages: bigint): boolean {
  const first = vpnOf(va);
  return ref.universe.some((vpn) => vpn >= first && vpn < first + pages);
}
