/**
 * The hardware of a nested-paging hart: a deterministic address-translation cache
 * for accesses made with V=1, as spec/concrete-tlb.ts is for Sv39. Not part of the
 * architecture; properties/two-stage-tlb.test.ts shows it refines the references
 * (spec/reference.ts for the VS-stage, spec/gstage-reference.ts for the G-stage).
 * Decision record 0008 says what it caches and what each fence removes, and why.
 *
 * Three kinds of entries, filled from memory reads, never evicted:
 * - VS-stage: spec/concrete-tlb.ts's TLB, one per VMID: every VS-stage step-2 read
 *   (pointer, leaf, invalid) by level and GVA prefix, tagged ASID or GLOBAL, over
 *   guest-physical PTE addresses. It holds the PTE's value, not where the G-stage
 *   found it.
 * - G-stage: every G-stage step-2 read by level and GPA prefix, tagged VMID, over
 *   host-physical PTE addresses.
 * - combined: a GVA page's two leaves, tagged VMID and ASID/GLOBAL, with the final GPA.
 * Translation is spec/two-stage.ts's own (`translateTwoStageWith`) given this cache: a
 * combined entry first, else both walks with each read served by a matching entry
 * before memory. A Svade hart only (a hit on a leaf needing an A/D update would have
 * to go back to memory). ASIDs and VMIDs come masked, as the CSRs and fences deliver them.
 */
import { type Gpa, type Gva, type Hpa, PAGE_SHIFT, gpa, gva, isCanonicalSv39, vpnOf, vpnPrefix } from './address.ts';
import { type ConcreteTlb, emptyTlb, tlbFence, tlbWalkReads } from './concrete-tlb.ts';
import { type GCachedPte, gFenceRemoves } from './gstage-reference.ts';
import { type Tag, fenceRemoves } from './reference.ts';
import { cacheKey } from './saturation.ts';
import {
  type CombinedLeaves, type GLookup, type HostRead, type TwoStageCache, type TwoStageInput, type TwoStageResult, type TwoStageTrace, gpaPrefix,
  translateTwoStageWith,
} from './two-stage.ts';
import type { WalkStep } from './walk.ts';

export interface CombinedEntry {
  readonly vmid: number;
  /** The VS-stage leaf's tag (its ASID, or GLOBAL: decision 0006, choice 7). */
  readonly tag: Tag;
  /** The guest-virtual page it translates (Sv39 VPN). */
  readonly vpn: bigint;
  /** The guest-physical page that GVA page maps to: what HFENCE.GVMA matches. */
  readonly gpa: Gpa;
  readonly leaves: CombinedLeaves;
}

export interface TwoStageTlb {
  readonly vs: ReadonlyMap<number, ConcreteTlb>;
  readonly g: ReadonlyMap<string, readonly GCachedPte[]>;
  readonly combined: ReadonlyMap<bigint, readonly CombinedEntry[]>;
}

export const emptyTwoStageTlb: TwoStageTlb = { vs: new Map(), g: new Map(), combined: new Map() };

export interface HartTranslation {
  readonly result: TwoStageResult;
  readonly tlb: TwoStageTlb;
  /** Step-2 reads memory served, per stage: the 2-D walk's cost (Sv39 over Sv39x4: at most 3 + 12). */
  readonly memoryReads: { readonly vs: number; readonly g: number };
  /** The guest-physical address the VS-stage produced; null if the translation failed before it. */
  readonly gpa: Gpa | null;
  /** Every G-stage translation, in order; a combined hit reports the one its G-stage leaf gave. */
  readonly gLookups: readonly GLookup[];
  /** The VS-stage reads, root first (for a combined hit, its leaf alone). */
  readonly vsPath: readonly WalkStep[];
  /** Whether a combined entry served it, and how many step-2 reads of each stage the cache served. */
  readonly served: { readonly combined: boolean; readonly vsHits: number; readonly gHits: number };
}

/** The VMID that tags this translation's entries: hgatp.VMID, 0 under Bare (whose other fields are zero). */
const vmidOf = (input: TwoStageInput): number => (input.hgatp.mode === 'sv39x4' ? input.hgatp.vmid : 0);

/** Translate one access made with V=1 through the TLB, filling it. */
export function hartTranslate(tlb: TwoStageTlb, input: TwoStageInput): HartTranslation {
  if (!input.svade) throw new Error('the two-stage TLB models Svade harts only');
  const vmid = vmidOf(input);
  const asid = input.vsatp.mode === 'sv39' ? input.vsatp.asid : null;
  const vsReads = asid === null ? null : tlbWalkReads(tlb.vs.get(vmid) ?? emptyTlb, input.gva, asid);
  const g = new Map(tlb.g);
  let gMemory = 0;
  let gHits = 0;
  const hit = combinedHit(tlb, input, vmid, asid);
  const cache: TwoStageCache = {
    combined: hit === null ? null : hit.leaves,
    // A VS-stage entry holds the PTE's value: a hit needs no G-stage translation of its address.
    vsRead: (level, pteAddr, memory) => {
      if (vsReads === null) return memory();
      return vsReads.read(level, pteAddr, () => {
        const r = memory();
        return r.kind === 'pte' ? r.pte : null;
      });
    },
    gRead: (a, level, pteAddr, memory): HostRead => {
      const key = cacheKey(level, gpaPrefix(a, level));
      const cached = (g.get(key) ?? []).find((e) => e.tag === vmid);
      if (cached !== undefined) {
        gHits++;
        return { kind: 'word', value: cached.pte };
      }
      const r = memory();
      if (r.kind === 'access-fault') return r;
      gMemory++;
      g.set(key, [{ tag: vmid, level, prefix: gpaPrefix(a, level), pteAddr, pte: r.value }, ...(g.get(key) ?? []).filter((e) => e.tag !== vmid)]);
      return r;
    },
  };
  const trace = translateTwoStageWith(input, cache);
  const vsDone = vsReads === null ? null : vsReads.done();
  const vs = vsDone === null ? tlb.vs : new Map(tlb.vs).set(vmid, vsDone.tlb);
  const vsPath = trace.vsWalk === null ? [] : trace.vsWalk.path;
  const entry = hit === null && vsDone !== null ? combinedEntry(trace, input.gva, vmid, vsDone.lastTag) : null;
  const combined = entry === null
    ? tlb.combined
    : new Map(tlb.combined).set(entry.vpn, [entry, ...(tlb.combined.get(entry.vpn) ?? []).filter((e) => e.vmid !== vmid || e.tag !== entry.tag)]);
  return {
    result: trace.result,
    tlb: { vs, g, combined },
    memoryReads: { vs: vsDone === null ? 0 : vsDone.memoryReads, g: gMemory },
    gpa: trace.gpa,
    gLookups: trace.gLookups,
    vsPath,
    served: { combined: hit !== null, vsHits: hit === null ? vsPath.filter((step) => !step.fromMemory).length : 0, gHits },
  };
}

/**
 * The combined entry a translation that walked both stages to valid leaves fills: the VS-stage
 * leaf with the tag its VS-stage entry got, the final GPA's page, and the G-stage leaf.
 */
function combinedEntry(trace: TwoStageTrace, va: Gva, vmid: number, vsTag: Tag | null): CombinedEntry | null {
  const vsLeaf = trace.vsWalk;
  const gLeaf = trace.gLookups[trace.gLookups.length - 1]?.walk;
  if (trace.result.kind !== 'ok' || trace.gpa === null || vsLeaf?.kind !== 'ok' || gLeaf?.kind !== 'ok' || vsTag === null) return null;
  return {
    vmid,
    tag: vsTag,
    vpn: vpnOf(va),
    gpa: gpa((trace.gpa >> PAGE_SHIFT) << PAGE_SHIFT),
    leaves: {
      vs: { level: vsLeaf.level, leafAddr: vsLeaf.leafAddr, leaf: vsLeaf.leaf, global: vsTag === 'global' },
      g: { level: gLeaf.level, leafAddr: gLeaf.leafAddr, leaf: gLeaf.leaf },
    },
  };
}

/** The combined entry for this access: both stages translate (no Bare), the GVA is canonical, tags match. */
function combinedHit(tlb: TwoStageTlb, input: TwoStageInput, vmid: number, asid: number | null): CombinedEntry | null {
  if (asid === null || input.hgatp.mode !== 'sv39x4' || !isCanonicalSv39(input.gva)) return null;
  return (tlb.combined.get(vpnOf(input.gva)) ?? []).find((e) => e.vmid === vmid && (e.tag === 'global' || e.tag === asid)) ?? null;
}

function filterCombined(tlb: TwoStageTlb, removes: (e: CombinedEntry) => boolean): ReadonlyMap<bigint, readonly CombinedEntry[]> {
  const next = new Map<bigint, readonly CombinedEntry[]>();
  for (const [vpn, es] of tlb.combined) {
    const kept = es.filter((e) => !removes(e));
    if (kept.length > 0) next.set(vpn, kept);
  }
  return next;
}

/**
 * SFENCE.VMA executed with V=1, or HFENCE.VVMA, for `vmid` (hgatp.VMID when it executes):
 * HFENCE.VVMA's "effect is much the same as temporarily entering VS-mode and executing
 * SFENCE.VMA", and it "applies only to a single virtual machine, identified by the setting of
 * hgatp.VMID" ("Hypervisor Memory-Management Fence Instructions"). That VMID's VS-stage entries
 * go by SFENCE.VMA's rule (spec/reference.ts `fenceRemoves`, reading the guest's memory at their
 * guest-physical addresses), and so do its combined entries, by their VS-stage leaf. G-stage
 * entries are not VS-level structures and stay.
 */
export function hartVsFence(tlb: TwoStageTlb, vmid: number, rs1: Gva | null, rs2: number | null, guestPteAt: (addr: Gpa) => bigint): TwoStageTlb {
  // A non-canonical rs1 makes the fence do nothing (priv spec, SFENCE.VMA).
  if (rs1 !== null && !isCanonicalSv39(rs1)) return tlb;
  const own = tlb.vs.get(vmid);
  const vs = own === undefined ? tlb.vs : new Map(tlb.vs).set(vmid, tlbFence(own, rs1, rs2, guestPteAt));
  const combined = filterCombined(tlb, (e) => {
    if (e.vmid !== vmid) return false;
    const { level, leafAddr, leaf } = e.leaves.vs;
    return fenceRemoves({ tag: e.tag, level, prefix: vpnPrefix(gva(e.vpn << PAGE_SHIFT), level), pteAddr: leafAddr, pte: leaf }, rs1, rs2, guestPteAt);
  });
  return { ...tlb, vs, combined };
}

/**
 * HFENCE.GVMA rs1, rs2 (rs1 the guest-physical address, rs2 a VMID; null is x0). G-stage entries
 * go by the G-stage reference's rule (`gFenceRemoves`). Combined entries: "any entry whose guest
 * virtual address maps to a guest physical address that matches the HFENCE.GVMA's address and
 * VMID arguments must be flushed" ("Hypervisor Memory-Management Fence Instructions"); a GPA
 * matches where the G-stage entry for it would, inside the G-stage leaf's page (a superpage
 * covers every GPA in it). VS-stage entries stay: "HFENCE.GVMA need not flush the former cache"
 * (the one mapping guest-virtual to guest-physical addresses).
 */
export function hartGFence(tlb: TwoStageTlb, rs1: Gpa | null, rs2: number | null, hostPteAt: (addr: Hpa) => bigint): TwoStageTlb {
  const g = new Map<string, readonly GCachedPte[]>();
  for (const [key, es] of tlb.g) {
    const kept = es.filter((e) => !gFenceRemoves(e, rs1, rs2, hostPteAt));
    if (kept.length > 0) g.set(key, kept);
  }
  const combined = filterCombined(tlb, (e) => {
    const { level, leafAddr, leaf } = e.leaves.g;
    return gFenceRemoves({ tag: e.vmid, level, prefix: gpaPrefix(e.gpa, level), pteAddr: leafAddr, pte: leaf }, rs1, rs2, hostPteAt);
  });
  return { ...tlb, g, combined };
}
