/**
 * Seeded-bug variants: the models with one documented mistake each, a bug class
 * real hypervisors have had or that SSP invites. Each must be
 * caught by some property: a variant no property can catch is not a bug.
 * Selected by name: `npm start -- --variant NAME`.
 */
import type { Gva } from '../spec/address.ts';
import { CAUSE } from '../spec/walk.ts';
import { type AnyMachine, type ModelName, erase } from './machine.ts';
import { nptMachine } from './npt.ts';
import {
  type ShadowBug, type ShadowLeaf, type ShadowPolicy, type ShadowScratch, hfenceVvma, leafCovers, shadowMachine, syncLeaves, trap,
} from './shadow.ts';
import { sspPolicy } from './ssp.ts';
import { tspPolicy } from './tsp.ts';

export interface Variant {
  readonly name: string;
  /** The model it breaks. */
  readonly base: ModelName;
  /** What it gets wrong, and the real-world bug it stands for. */
  readonly description: string;
  /**
   * The properties that catch it (names from properties/catalogue.ts): measured, each
   * caught it in 5 of 5 seeds within 1,000 programs; the first is the one its
   * committed counterexample shows. counterexamples/variant-evidence.ts checks every pair.
   */
  readonly caughtBy: readonly string[];
  readonly machine: AnyMachine;
}

const withBug = (policy: ShadowPolicy, bug: ShadowBug): AnyMachine => erase(shadowMachine({ ...policy, bugs: new Set([bug]) }));

/** SSP's fence handling with the scope of the sync replaced. */
function sspFence(
  scope: (x: ShadowScratch, rs1: Gva | null, rs2: number | null) => {
    readonly sync: boolean;
    readonly asid: number | null;
    readonly covers: (vpn: bigint, l: ShadowLeaf) => boolean;
    readonly flushAsid: number | null;
  },
): AnyMachine {
  return erase(shadowMachine({
    ...sspPolicy,
    sfence: (x, rs1, rs2) => {
      trap(x, CAUSE.virtualInstruction, 'sfence');
      const s = scope(x, rs1, rs2);
      if (s.sync) syncLeaves(x, (t) => s.asid === null || t.asid === s.asid, s.covers, true);
      hfenceVvma(x, rs1, s.flushAsid);
    },
  }));
}

const covers = (rs1: Gva | null) => (vpn: bigint, l: ShadowLeaf) => rs1 === null || leafCovers(vpn, l, rs1);
const currentAsid = (x: ShadowScratch): number => (x.s.guestSatp.mode === 'sv39' ? x.s.guestSatp.asid : 0);

export const VARIANTS: readonly Variant[] = [
  {
    name: 'ssp-no-sync-on-va-fence',
    base: 'ssp',
    description: 'SSP synchronises nothing on an address-specific SFENCE.VMA (it still flushes the hart\'s TLB, which refills from the stale shadow). '
      + 'Stands for KVM\'s paravirtual TLB-flush path that skipped the shadow sync.',
    caughtBy: ['refinement', 'determinism', 'justified-shadow'],
    machine: sspFence((_x, rs1, rs2) => ({ sync: rs1 === null, asid: rs2, covers: covers(rs1), flushAsid: rs2 })),
  },
  {
    name: 'ssp-no-sync-on-asid-fence',
    base: 'ssp',
    description: 'SSP synchronises nothing on SFENCE.VMA x0, asid, the fence an OS issues when it recycles an ASID or changes a non-leaf entry of one address space. '
      + 'Same bug class as the skipped paravirtual-flush sync.',
    caughtBy: ['refinement', 'determinism', 'justified-shadow'],
    machine: sspFence((_x, rs1, rs2) => ({ sync: !(rs1 === null && rs2 !== null), asid: rs2, covers: covers(rs1), flushAsid: rs2 })),
  },
  {
    name: 'ssp-fence-ignores-named-asid',
    base: 'ssp',
    description: 'SSP applies an ASID-scoped fence to the ASID loaded now instead of the one the fence names, so buffered shadows of the named ASID that are not loaded keep their stale leaves. '
      + 'The SSP trap the design notes warn of: a fence must reach shadows that are not loaded.',
    caughtBy: ['refinement', 'determinism', 'justified-shadow'],
    machine: sspFence((x, rs1, rs2) => {
      const asid = rs2 === null ? null : currentAsid(x);
      return { sync: true, asid, covers: covers(rs1), flushAsid: asid };
    }),
  },
  {
    name: 'ssp-keeps-global-past-fence',
    base: 'ssp',
    description: 'SSP never synchronises or flushes global entries, even on fences that cover them (rs2=x0). '
      + 'Global entries are spared only by ASID-scoped fences; keeping them past SFENCE.VMA va, x0 or x0, x0 is a stale global TLB entry.',
    caughtBy: ['refinement', 'determinism', 'justified-shadow'],
    machine: erase(shadowMachine({
      ...sspPolicy,
      sfence: (x, rs1, rs2) => {
        trap(x, CAUSE.virtualInstruction, 'sfence');
        syncLeaves(x, (t) => rs2 === null || t.asid === rs2, (vpn, l) => !l.g && covers(rs1)(vpn, l), true);
        hfenceVvma(x, rs1, rs2 ?? currentAsid(x));
      },
    })),
  },
  {
    name: 'ssp-buffer-keyed-by-root',
    base: 'ssp',
    description: 'SSP\'s base address buffer is keyed by the guest root alone: after the guest frees a root page table and reuses the frame for another process (another ASID), the stale shadow is found in the buffer. '
      + 'Stands for hypocaust issue 1 (a freed guest root reused by another process went unnoticed without write protection).',
    caughtBy: ['refinement', 'determinism', 'justified-shadow'],
    machine: erase(shadowMachine({ ...sspPolicy, shadowKey: (rootPpn) => `root=0x${rootPpn.toString(16)}` })),
  },
  {
    name: 'ssp-links-unsynced-subtree',
    base: 'ssp',
    description: 'On a shadow miss SSP links in the leaves another shadow built from the same guest table, without synchronising them first. '
      + 'Stands for KVM\'s bug of linking an unsync shadow page into a new parent before syncing it.',
    caughtBy: ['refinement', 'determinism', 'justified-shadow'],
    machine: withBug(sspPolicy, 'link-unsynced-subtree'),
  },
  {
    name: 'ssp-leaf-ignores-host-write-protect',
    base: 'ssp',
    description: 'A shadow leaf takes W from the guest alone and ignores the host\'s write protection of the frame, so a guest store reaches a frame being dirty-logged unseen. '
      + 'The RISC-V analogue of KVM\'s shadow permissions taken from one level instead of combining all of them.',
    caughtBy: ['isolation', 'justified-shadow'],
    machine: withBug(sspPolicy, 'leaf-ignores-host-write-protect'),
  },
  {
    name: 'ssp-leaf-drops-path-g',
    base: 'ssp',
    description: 'A shadow leaf takes G from the guest leaf alone, dropping the G bit a pointer above passes down (on Sv39, G combines as an OR along the path). '
      + 'The analogue of KVM\'s x86 bug of taking shadow permissions from the parent instead of combining the levels.',
    caughtBy: ['justified-shadow'],
    machine: withBug(sspPolicy, 'leaf-drops-path-g'),
  },
  {
    name: 'ssp-no-hw-tlb-flush',
    base: 'ssp',
    description: 'SSP synchronises the shadow but never flushes the hart\'s TLB (no HFENCE.VVMA), so the hart keeps translations the fence removed from the shadow.',
    caughtBy: ['refinement', 'determinism', 'justified-shadow', 'isolation', 'transparency'],
    machine: withBug(sspPolicy, 'no-hw-tlb-flush'),
  },
  {
    name: 'tsp-no-hw-tlb-flush',
    base: 'tsp',
    description: 'TSP updates the shadow eagerly but never flushes the hart\'s TLB (no HFENCE.VVMA, not even when emulating the guest\'s fence).',
    caughtBy: ['refinement', 'determinism', 'justified-shadow', 'isolation', 'transparency'],
    machine: withBug(tspPolicy, 'no-hw-tlb-flush'),
  },
  {
    name: 'tsp-no-protect-new-page-table',
    base: 'tsp',
    description: 'TSP does not write-protect a page that has just become a page-table page: shadow leaves that already map it stay writable, so guest stores to it neither exit nor update the shadow.',
    caughtBy: ['justified-shadow'],
    machine: withBug(tspPolicy, 'no-protect-new-page-table'),
  },
  {
    name: 'tsp-remap-keeps-old-frame',
    base: 'tsp',
    description: 'After the hypervisor moves a guest page to another host frame (swap, migration), shadow leaves still point at the old frame: the guest reaches memory that is no longer its own.',
    caughtBy: ['isolation', 'refinement', 'determinism', 'justified-shadow', 'transparency'],
    machine: withBug(tspPolicy, 'remap-keeps-old-frame'),
  },
  {
    name: 'npt-no-hfence-gvma-after-remap',
    base: 'npt',
    description: 'Nested paging changes a G-stage entry (host remap) without HFENCE.GVMA: the hart\'s G-stage TLB keeps the old frame.',
    caughtBy: ['isolation', 'refinement', 'determinism', 'transparency'],
    machine: erase(nptMachine(new Set(['no-hfence-gvma-after-remap']))),
  },
];

export function findVariant(name: string): Variant | undefined {
  return VARIANTS.find((v) => v.name === name);
}
