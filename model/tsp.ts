/**
 * Traditional shadow paging: guest page-table pages are write-protected in the
 * shadow, so every guest store to one exits and the hypervisor updates the shadow
 * eagerly; satp writes and SFENCE.VMA exit too (hstatus.VTVM=1, virtual-instruction
 * traps delegated to HS). One shadow per guest root.
 */
import { bits } from '../spec/privilege.ts';
import { CAUSE } from '../spec/walk.ts';
import type { Machine } from './machine.ts';
import { type ShadowPolicy, type ShadowState, hfenceVvma, loadShadow, shadowMachine, trap } from './shadow.ts';

export const tspPolicy: ShadowPolicy = {
  name: 'tsp',
  title: 'traditional shadow paging (write-protected guest tables)',
  // Shadow page faults stop in HS (no hedeleg); virtual-instruction traps go to HS (medeleg[22]=1).
  delegation: { medeleg: bits(12, 13, 15, 20, 21, 22, 23), hedeleg: 0n },
  shadowKey: (rootPpn) => `root=0x${rootPpn.toString(16)}`,
  writeProtectPageTables: true,
  bugs: new Set(),
  satpWrite: (x, key) => {
    trap(x, CAUSE.virtualInstruction, 'satp-write');
    loadShadow(x, key);
  },
  sfence: (x, rs1, rs2) => {
    // The shadow is already in sync; the fence only has to reach the hardware TLB.
    trap(x, CAUSE.virtualInstruction, 'sfence');
    hfenceVvma(x, rs1, rs2);
  },
};

export const tsp: Machine<ShadowState> = shadowMachine(tspPolicy);
