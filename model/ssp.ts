/**
 * Swift shadow paging (Sha et al., VEE 2021): no write protection, so guest
 * page-table stores never exit and the shadow goes stale. SFENCE.VMA is
 * intercepted in M-mode (hstatus.VTVM=1, medeleg[22]=0) and the shadow is
 * synchronised there, as far as the fence's scope requires; satp writes are served
 * in M-mode from the shadow page table base address buffer, exiting to the
 * hypervisor only on a miss.
 *
 * The buffer is keyed by (guest root, ASID) (decision record 0003): a shadow's
 * entries are tagged by the ASID they were synchronised under, so a freed root
 * page reused by another process under another ASID gets a shadow of its own, and
 * an ASID-scoped fence reaches every buffered shadow of that ASID, loaded or not.
 *
 * The sync at a fence resyncs the loaded shadow's covered leaves from a fresh guest
 * walk, and zaps those of shadows not loaded: a walk of a table that satp does not
 * reach now is not one the architecture lets the hart cache, so a shadow not loaded
 * may only lose entries until it is loaded again.
 */
import { bits } from '../spec/privilege.ts';
import { CAUSE } from '../spec/walk.ts';
import type { Machine } from './machine.ts';
import {
  type ShadowPolicy, type ShadowState, hfenceVvma, leafCovers, loadShadow, shadowMachine, syncLeaves, trap,
} from './shadow.ts';

export const sspPolicy: ShadowPolicy = {
  name: 'ssp',
  title: 'swift shadow paging (lazy sync at intercepted fences)',
  // medeleg[22]=0: virtual-instruction traps stay in M-mode, SSP's hardware-mode fast path.
  delegation: { medeleg: bits(12, 13, 15, 20, 21, 23), hedeleg: 0n },
  shadowKey: (rootPpn, asid) => `root=0x${rootPpn.toString(16)},asid=${asid}`,
  writeProtectPageTables: false,
  bugs: new Set(),
  satpWrite: (x, key) => {
    trap(x, CAUSE.virtualInstruction, 'satp-write');
    if (x.s.shadows.has(key)) {
      x.events.push('buffer-hit');
      loadShadow(x, key);
      return;
    }
    // A buffer miss is forwarded to the hypervisor, which builds an empty shadow and fills the buffer.
    x.traps.push({ cause: CAUSE.virtualInstruction, from: 'M', to: 'HS', cost: 'vm-exit', reason: 'satp-write' });
    x.events.push('buffer-miss');
    loadShadow(x, key);
  },
  sfence: (x, rs1, rs2) => {
    trap(x, CAUSE.virtualInstruction, 'sfence');
    syncLeaves(
      x,
      (t) => rs2 === null || t.asid === rs2,
      (vpn, l) => rs1 === null || leafCovers(vpn, l, rs1),
      true,
    );
    hfenceVvma(x, rs1, rs2);
  },
};

export const ssp: Machine<ShadowState> = shadowMachine(sspPolicy);
