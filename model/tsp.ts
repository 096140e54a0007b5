/**
 * Traditional shadow paging: guest page-table pages are write-protected in the
 * shadow, so every guest store to one exits and the hypervisor updates every sp
 * that shadows it eagerly; satp writes and SFENCE.VMA exit too (hstatus.VTVM=1,
 * virtual-instruction traps delegated to HS). One shadow per guest root, its sps
 * untagged (always in sync, they need no ASID to keep stale entries apart), shared
 * between roots whose walks share a table at the same VA prefix.
 */
import { bits } from '../spec/privilege.ts';
import { CAUSE } from '../spec/walk.ts';
import type { Machine } from './machine.ts';
import { type ShadowPolicy, type ShadowState, hfenceForGuest, shadowMachine, trap, withPool } from './shadow.ts';
import { TABLE_POOL, loadShadow } from './shadow-mmu.ts';

export const tspPolicy: ShadowPolicy = {
  name: 'tsp',
  title: 'traditional shadow paging (write-protected guest tables)',
  // Shadow page faults stop in HS (no hedeleg); virtual-instruction traps go to HS (medeleg[22]=1).
  delegation: { medeleg: bits(12, 13, 15, 20, 21, 22, 23), hedeleg: 0n },
  bufferKey: (rootPpn) => `root=0x${rootPpn.toString(16)}`,
  tagged: false,
  writeProtectPageTables: true,
  superpages: true,
  tablePoolBase: TABLE_POOL,
  bugs: new Set(),
  satpWrite: (x, rootPpn, asid) => {
    trap(x, CAUSE.virtualInstruction, 'satp-write');
    withPool(x, () => loadShadow(x, x.policy.bufferKey(rootPpn, asid), rootPpn, asid));
  },
  sfence: (x, rs1, rs2) => {
    // The shadow is already in sync; the fence only has to reach the hart's TLB.
    trap(x, CAUSE.virtualInstruction, 'sfence');
    hfenceForGuest(x, rs1, rs2);
  },
};

export const tsp: Machine<ShadowState> = shadowMachine(tspPolicy);
