/**
 * Swift shadow paging (Sha et al., VEE 2021): no write protection, so guest
 * page-table stores never exit and the shadow goes stale. SFENCE.VMA is
 * intercepted in M-mode (hstatus.VTVM=1, medeleg[22]=0) and the shadow is
 * synchronised there, as far as the fence's scope requires; satp writes are served
 * in M-mode from the shadow page table base address buffer, exiting to the
 * hypervisor only on a miss.
 *
 * Shadows are keyed by (guest root, ASID) (decision record 0003) and their sps by
 * role, VA prefix and tag included (decision record 0009): an sp holds what the
 * hart's cache may hold for its prefix and tag, so a fence reaches exactly the sps
 * of its scope. At a fence, the sps a walk from the loaded shadow reaches are
 * resynced from the root down; the others in scope are marked unsync (an rs1=x0
 * fence) or lose their entry for the address (an rs1=va fence): a walk of a table
 * satp does not reach now is not one the architecture lets the hart cache, so those
 * are synced when they are linked or loaded again, never before.
 */
import { type Gva, isCanonicalSv39, vpnIndex } from '../spec/address.ts';
import { isValidPointer, ptePpn } from '../spec/pte.ts';
import { bits } from '../spec/privilege.ts';
import { CAUSE } from '../spec/walk.ts';
import type { Machine } from './machine.ts';
import { type ShadowPolicy, type ShadowState, hfenceForGuest, shadowMachine, trap, withPool } from './shadow.ts';
import {
  type ShadowPage, type ShadowScratch, TABLE_POOL, clearEntry, loadShadow, markUnsync, shadowPte, spCovers, syncEntry, syncTree,
} from './shadow-mmu.ts';

/** Is an sp in the scope of a fence naming ASID `rs2` (x0: every sp; an ASID: that ASID's, never global ones)? */
export const inAsidScope = (sp: ShadowPage, rs2: number | null): boolean => rs2 === null || sp.role.tag === rs2;

/** The sps on the loaded shadow's path for `va`, root first. */
function pathOf(x: ShadowScratch, va: Gva): Set<bigint> {
  const out = new Set<bigint>();
  let sp = x.s.vsatp === null ? undefined : x.s.mmu.pages.get(x.s.vsatp.root);
  // Each step goes one level down, so the path ends within three sps.
  while (sp !== undefined) {
    out.add(sp.frame);
    const pte = shadowPte(x.s, sp.frame, Number(vpnIndex(va, sp.role.level)));
    sp = isValidPointer(pte) ? x.s.mmu.pages.get(ptePpn(pte)) : undefined;
  }
  return out;
}

/**
 * SFENCE.VMA rs1, rs2 intercepted: sync what it covers. rs1=x0: every sp of the
 * scope, resynced if a walk from the loaded shadow reaches it, else unsync. rs1=va:
 * the entries for va that hold a leaf (or a guest leaf split into smaller shadow
 * leaves) or nothing, in the sps of the scope that translate va; pointers to
 * tables survive, as cached pointers survive an address-specific fence.
 */
export function sspSync(x: ShadowScratch, rs1: Gva | null, inScope: (sp: ShadowPage) => boolean): void {
  if (rs1 === null) {
    const reached = x.s.vsatp === null ? new Set<bigint>() : syncTree(x, x.s.vsatp.root, inScope);
    for (const sp of [...x.s.mmu.pages.values()]) if (inScope(sp) && !reached.has(sp.frame)) markUnsync(x, sp.frame);
    return;
  }
  if (!isCanonicalSv39(rs1)) return;
  const onPath = pathOf(x, rs1);
  for (const sp of [...x.s.mmu.pages.values()]) {
    if (!inScope(sp) || !spCovers(sp.role, rs1) || !x.s.mmu.pages.has(sp.frame)) continue;
    const slot = Number(vpnIndex(rs1, sp.role.level));
    const pte = shadowPte(x.s, sp.frame, slot);
    const child = isValidPointer(pte) ? x.s.mmu.pages.get(ptePpn(pte)) : undefined;
    if (child?.role.source.kind === 'table') continue;
    if (onPath.has(sp.frame)) {
      syncEntry(x, sp, slot);
      x.events.push('shadow-resync');
    } else if (pte !== 0n) {
      clearEntry(x, sp, slot);
      x.events.push('shadow-zap');
    }
  }
}

export const sspPolicy: ShadowPolicy = {
  name: 'ssp',
  title: 'swift shadow paging (lazy sync at intercepted fences)',
  // medeleg[22]=0: virtual-instruction traps stay in M-mode, SSP's hardware-mode fast path.
  delegation: { medeleg: bits(12, 13, 15, 20, 21, 23), hedeleg: 0n },
  bufferKey: (rootPpn, asid) => `root=0x${rootPpn.toString(16)},asid=${asid}`,
  tagged: true,
  writeProtectPageTables: false,
  superpages: true,
  tablePoolBase: TABLE_POOL,
  bugs: new Set(),
  satpWrite: (x, rootPpn, asid) => {
    trap(x, CAUSE.virtualInstruction, 'satp-write');
    const key = x.policy.bufferKey(rootPpn, asid);
    if (x.s.mmu.roots.has(key)) {
      x.events.push('buffer-hit');
      loadShadow(x, key, rootPpn, asid);
      // What a fence left unsync while this shadow was not loaded is synced before the guest runs on it.
      // Stryker disable next-line OptionalChaining,ConditionalExpression: loadShadow has just loaded a shadow, so vsatp is set
      const root = x.s.vsatp?.root;
      // Stryker disable next-line ConditionalExpression: as above
      if (root !== undefined) syncTree(x, root, (sp) => sp.unsync);
      return;
    }
    // A buffer miss is forwarded to the hypervisor, which builds an empty shadow and fills the buffer.
    x.traps.push({ cause: CAUSE.virtualInstruction, from: 'M', to: 'HS', cost: 'vm-exit', reason: 'satp-write' });
    x.events.push('buffer-miss');
    withPool(x, () => loadShadow(x, key, rootPpn, asid));
  },
  sfence: (x, rs1, rs2) => {
    trap(x, CAUSE.virtualInstruction, 'sfence');
    sspSync(x, rs1, (sp) => inAsidScope(sp, rs2));
    hfenceForGuest(x, rs1, rs2);
  },
};

export const ssp: Machine<ShadowState> = shadowMachine(sspPolicy);
