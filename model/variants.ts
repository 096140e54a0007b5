/**
 * Seeded-bug variants: the models with one documented mistake each, a bug class
 * real hypervisors have had or that SSP invites. Each must be
 * caught by some property: a variant no property can catch is not a bug.
 * Selected by name: `npm start -- --variant NAME`.
 */
import type { Gva } from '../spec/address.ts';
import { CAUSE } from '../spec/walk.ts';
import { bootFrame } from './host.ts';
import { type AnyMachine, type ModelName, erase } from './machine.ts';
import { nptMachine } from './npt.ts';
import { type ShadowBug, type ShadowPolicy, type ShadowScratch, hfenceForGuest, shadowMachine, trap } from './shadow.ts';
import type { ShadowPage } from './shadow-mmu.ts';
import { inAsidScope, sspPolicy, sspSync } from './ssp.ts';
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

/** SSP with its fence handling replaced: which sps the sync reaches, and the HFENCE.VVMA it issues. */
function sspFence(
  scope: (x: ShadowScratch, rs1: Gva | null, rs2: number | null) => {
    readonly sync: boolean;
    readonly inScope: (sp: ShadowPage) => boolean;
    readonly flushAsid: number | null;
  },
): AnyMachine {
  return erase(shadowMachine({
    ...sspPolicy,
    sfence: (x, rs1, rs2) => {
      trap(x, CAUSE.virtualInstruction, 'sfence');
      const s = scope(x, rs1, rs2);
      if (s.sync) sspSync(x, rs1, s.inScope);
      hfenceForGuest(x, rs1, s.flushAsid);
    },
  }));
}

const currentAsid = (x: ShadowScratch): number => (x.s.guestSatp.mode === 'sv39' ? x.s.guestSatp.asid : 0);

export const VARIANTS: readonly Variant[] = [
  {
    name: 'ssp-no-sync-on-va-fence',
    base: 'ssp',
    description: 'SSP synchronises nothing on an address-specific SFENCE.VMA (it still flushes the hart\'s TLB, which refills from the stale shadow). '
      + 'Stands for KVM\'s paravirtual TLB-flush path that skipped the shadow sync.',
    caughtBy: ['refinement', 'determinism', 'justified-shadow'],
    machine: sspFence((_x, rs1, rs2) => ({ sync: rs1 === null, inScope: (sp) => inAsidScope(sp, rs2), flushAsid: rs2 })),
  },
  {
    name: 'ssp-no-sync-on-asid-fence',
    base: 'ssp',
    description: 'SSP synchronises nothing on SFENCE.VMA x0, asid, the fence an OS issues when it recycles an ASID or changes a non-leaf entry of one address space. '
      + 'Same bug class as the skipped paravirtual-flush sync.',
    caughtBy: ['refinement', 'determinism', 'justified-shadow'],
    machine: sspFence((_x, rs1, rs2) => ({ sync: !(rs1 === null && rs2 !== null), inScope: (sp) => inAsidScope(sp, rs2), flushAsid: rs2 })),
  },
  {
    name: 'ssp-fence-ignores-named-asid',
    base: 'ssp',
    description: 'SSP applies an ASID-scoped fence to the ASID loaded now instead of the one the fence names, so buffered shadows of the named ASID that are not loaded keep their stale entries. '
      + 'The SSP trap the design notes warn of: a fence must reach shadows that are not loaded.',
    caughtBy: ['refinement', 'determinism', 'justified-shadow'],
    machine: sspFence((x, _rs1, rs2) => {
      const asid = rs2 === null ? null : currentAsid(x);
      return { sync: true, inScope: (sp) => inAsidScope(sp, asid), flushAsid: asid };
    }),
  },
  {
    name: 'ssp-keeps-global-past-fence',
    base: 'ssp',
    description: 'SSP never synchronises or flushes global entries, even on fences that cover them (rs2=x0). '
      + 'Global entries are spared only by ASID-scoped fences; keeping them past SFENCE.VMA va, x0 or x0, x0 is a stale global TLB entry.',
    caughtBy: ['refinement', 'justified-shadow'],
    machine: sspFence((x, _rs1, rs2) => ({
      sync: true, inScope: (sp) => sp.role.tag !== 'global' && inAsidScope(sp, rs2), flushAsid: rs2 ?? currentAsid(x),
    })),
  },
  {
    name: 'ssp-buffer-keyed-by-root',
    base: 'ssp',
    description: 'SSP\'s base address buffer is keyed by the guest root alone: after the guest frees a root page table and reuses the frame for another process (another ASID), the stale shadow is found in the buffer. '
      + 'Stands for hypocaust issue 1 (a freed guest root reused by another process went unnoticed without write protection).',
    caughtBy: ['refinement', 'determinism', 'justified-shadow'],
    machine: erase(shadowMachine({ ...sspPolicy, bufferKey: (rootPpn) => `root=0x${rootPpn.toString(16)}` })),
  },
  {
    name: 'ssp-links-unsynced-subtree',
    base: 'ssp',
    description: 'A shadow page that a fence left unsync (it was not reached from the loaded shadow at the time) is linked into the loaded shadow on a shadow miss without being synced first. '
      + 'Stands for KVM\'s bug of linking an unsync shadow page into a new parent before syncing it.',
    caughtBy: ['justified-shadow'],
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
    name: 'ssp-shadow-pointer-drops-g',
    base: 'ssp',
    description: 'Shadow pointers drop the G bit of the guest pointers they mirror, so a global guest subtree is not global in the shadow (on Sv39, G combines as an OR along the path). '
      + 'The analogue of KVM\'s x86 bug of taking shadow permissions from one level instead of combining the levels.',
    caughtBy: ['justified-shadow'],
    machine: withBug(sspPolicy, 'pointer-drops-g'),
  },
  {
    name: 'ssp-no-hw-tlb-flush',
    base: 'ssp',
    description: 'SSP synchronises the shadow but never flushes the hart\'s TLB (no HFENCE.VVMA), so the hart keeps translations the fence removed from the shadow.',
    caughtBy: ['refinement', 'determinism', 'justified-shadow', 'isolation', 'transparency', 'shadow-memory', 'hart-legality'],
    machine: withBug(sspPolicy, 'no-hw-tlb-flush'),
  },
  {
    name: 'ssp-pointer-change-leaf-flush',
    base: 'ssp',
    description: 'When SSP links, replaces or clears a shadow pointer, or frees a shadow page and reuses its frame, it fences the hart by address only (HFENCE.VVMA va), even when the fault recurs: an address-specific fence orders leaf entries only, so the hart keeps the invalid or old non-leaf entries it cached, pointing where the shadow no longer does. '
      + 'Stands for the shadow-page lifetime rule KVM keeps (zap, then flush the TLBs, before a shadow page is freed or reused).',
    caughtBy: ['refinement', 'determinism', 'justified-shadow', 'isolation', 'transparency', 'shadow-memory', 'hart-legality'],
    machine: withBug(sspPolicy, 'pointer-change-leaf-flush'),
  },
  {
    name: 'ssp-remap-keeps-superpage',
    base: 'ssp',
    description: 'When the host moves one frame inside a shadow superpage (a guest 2 MiB page backed by contiguous host frames), SSP updates 4 KiB leaves only and keeps the superpage, which still maps the old frame. '
      + 'A shadow large page must be split when the host changes one frame inside it (KVM\'s huge-page split on dirty logging or migration).',
    caughtBy: ['isolation', 'justified-shadow'],
    machine: withBug(sspPolicy, 'remap-keeps-superpage'),
  },
  {
    name: 'ssp-shadow-table-in-guest-memory',
    base: 'ssp',
    description: 'SSP\'s table pool is misplaced onto frames that back guest RAM (the pool base taken from a guest-physical address), so the guest can read and write its own shadow tables. '
      + 'A guest that can write its own shadow table owns the host.',
    caughtBy: ['isolation', 'refinement', 'shadow-memory'],
    machine: erase(shadowMachine({ ...sspPolicy, tablePoolBase: bootFrame(0x80400n) })),
  },
  {
    name: 'ssp-role-without-prefix',
    base: 'ssp',
    description: 'SSP keys its shadow pages by guest table, level and tag but not by VA prefix, so one shadow page serves a guest table wherever it is reached from. Without write protection a shadow page is the hart\'s cache of that table as seen through one VA prefix, and a fence for one prefix leaves the other stale. '
      + 'The sharing KVM can afford because it write-protects upper-level guest tables.',
    caughtBy: ['refinement', 'determinism', 'justified-shadow', 'isolation', 'transparency', 'shadow-memory', 'hart-legality'],
    machine: withBug(sspPolicy, 'role-without-prefix'),
  },
  {
    name: 'tsp-no-hw-tlb-flush',
    base: 'tsp',
    description: 'TSP updates the shadow eagerly but never flushes the hart\'s TLB (no HFENCE.VVMA, not even when emulating the guest\'s fence).',
    caughtBy: ['refinement', 'determinism', 'justified-shadow', 'isolation', 'transparency', 'shadow-memory', 'hart-legality'],
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
    caughtBy: ['isolation', 'refinement', 'determinism', 'justified-shadow', 'transparency', 'shadow-memory', 'hart-legality'],
    machine: withBug(tspPolicy, 'remap-keeps-old-frame'),
  },
  {
    name: 'npt-no-hfence-gvma-after-remap',
    base: 'npt',
    description: 'Nested paging changes a G-stage entry (host remap) without HFENCE.GVMA: the hart\'s G-stage TLB keeps the old frame.',
    caughtBy: ['isolation', 'refinement', 'determinism', 'transparency', 'hart-legality'],
    machine: erase(nptMachine(new Set(['no-hfence-gvma-after-remap']))),
  },
  {
    name: 'npt-gstage-pointer-without-hfence',
    base: 'npt',
    description: 'When a split 2 MiB region of the G-stage becomes whole again, nested paging turns its level-1 pointer back into a superpage leaf and frees the level-0 table, but fences one guest-physical address only (HFENCE.GVMA gpa): cached non-leaf G-stage entries survive an address-specific fence, so the hart keeps walking the freed table, whose frame the next split reuses for another region. '
      + 'Changing a G-stage pointer needs HFENCE.GVMA with rs1=x0.',
    caughtBy: ['isolation', 'refinement', 'determinism'],
    machine: erase(nptMachine(new Set(['gstage-pointer-without-hfence']))),
  },
  {
    name: 'npt-hart-keeps-combined-after-hfence-gvma',
    base: 'npt',
    description: 'The hart caches combined guest-virtual to host-physical translations, and its HFENCE.GVMA rs1=gpa removes the G-stage entries for that address but not the combined ones whose guest-physical page it names, as the H extension\'s fence note requires. '
      + 'A hardware bug, not a hypervisor one: the hart-legality checks and isolation see it.',
    caughtBy: ['isolation', 'hart-legality', 'refinement', 'determinism', 'transparency'],
    machine: erase(nptMachine(new Set(['keeps-combined-after-hfence-gvma']))),
  },
  {
    name: 'ssp-dirty-in-shadow-only',
    base: 'ssp',
    description: 'Svadu guests: on the exit a store to a clean page takes, SSP makes the shadow leaf writable but never sets D in the guest\'s PTE (nor A). '
      + 'The hart sets D in the shadow, which the guest never reads: the page is written and never written back. The dirty-bit emulation KVM does for guests without hardware A/D, left out.',
    caughtBy: ['no-lost-dirty', 'refinement', 'justified-shadow'],
    machine: withBug(sspPolicy, 'dirty-in-shadow-only'),
  },
  {
    name: 'ssp-sync-maps-unaccessed-leaf',
    base: 'ssp',
    description: 'Svadu guests: SSP\'s sync at a fence (as any prefetch would) shadows guest leaves whose A is clear, so the access that uses such a leaf hits the shadow and A is never set: the guest ages the page as unused. '
      + 'KVM marks prefetched shadow entries not-accessed for this reason.',
    caughtBy: ['refinement', 'justified-shadow'],
    machine: withBug(sspPolicy, 'maps-unaccessed-leaf'),
  },
  {
    name: 'ssp-dirty-emulation-ignores-host-write-protect',
    base: 'ssp',
    description: 'Svadu guests: the exit that sets D in the guest\'s PTE makes the shadow leaf writable without asking whether dirty logging still write-protects the frame, so later stores to it go unlogged and migration copies a stale page.',
    caughtBy: ['isolation', 'justified-shadow'],
    machine: withBug(sspPolicy, 'dirty-emulation-ignores-host-write-protect'),
  },
  {
    name: 'tsp-writable-before-dirty',
    base: 'tsp',
    description: 'Svadu guests: TSP gives a shadow leaf W whenever the guest\'s leaf has W, D or not (the hart would set D, so why wait?), but the hart sets D in the shadow only: stores to a clean page never reach the guest\'s D. '
      + 'The Svade rule (W needs D) dropped for Svadu.',
    caughtBy: ['no-lost-dirty', 'refinement', 'justified-shadow'],
    machine: withBug(tspPolicy, 'writable-before-dirty'),
  },
];

export function findVariant(name: string): Variant | undefined {
  return VARIANTS.find((v) => v.name === name);
}
