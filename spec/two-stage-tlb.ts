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
 * before memory. Svade or Svadu (`input.svade`): under Svadu a leaf the TLB served that
 * needs an A/D update is read again from memory before the hart updates it, and the TLB
 * then holds it as updated (`hartTranslate`; decision record 0008, "Svadu"). The G-stage
 * side follows the same rule, though the NPT model's G-stage leaves have A=D=1 and never
 * need it (model/npt.ts `gLeaf`). ASIDs and VMIDs come masked, as the CSRs and fences deliver them.
 */
import { type Gpa, type Gva, type Hpa, type Level, PAGE_SHIFT, gpa, gva, isCanonicalSv39, vpnOf, vpnPrefix } from './address.ts';
import { type ConcreteTlb, emptyTlb, tlbFence, tlbWalkReads } from './concrete-tlb.ts';
import { type GCachedPte, gFenceRemoves } from './gstage-reference.ts';
import type { PteWord } from './pte.ts';
import { type Tag, fenceRemoves } from './reference.ts';
import { cacheKey } from './saturation.ts';
import {
  type CombinedLeaves, type GLookup, type HostRead, type TwoStageCache, type TwoStageInput, type TwoStageResult, type TwoStageTrace, gpaPrefix,
  translateTwoStageWith,
} from './two-stage.ts';
import type { WalkResult, WalkStep } from './walk.ts';

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
  /**
   * Step-2 reads memory served, per stage: the 2-D walk's cost (Sv39 over Sv39x4: at most 3 + 12),
   * summed over every pass a Svadu hart made (a pass given up for an A/D update still read memory).
   */
  readonly memoryReads: { readonly vs: number; readonly g: number };
  /** The guest-physical address the VS-stage produced; null if the translation failed before it. */
  readonly gpa: Gpa | null;
  /** Every G-stage translation, in order; a combined hit reports the one its G-stage leaf gave. */
  readonly gLookups: readonly GLookup[];
  /** The VS-stage reads, root first (for a combined hit, its leaf alone). */
  readonly vsPath: readonly WalkStep[];
  /**
   * The VS-stage walk (a combined hit's leaf); null under vsatp Bare. Its `adUpdate` (Svadu) is the
   * VS-stage A/D update at the PTE's guest-physical address: made iff `gpa` is not null.
   */
  readonly vsWalk: WalkResult | null;
  /**
   * Whether a combined entry served it, how many step-2 reads of each stage the cache served, and how
   * many times (Svadu) a cached leaf needing an A/D update sent the translation back to memory.
   */
  readonly served: { readonly combined: boolean; readonly vsHits: number; readonly gHits: number; readonly backToMemory: number };
}

/** The VMID that tags this translation's entries: hgatp.VMID, 0 under Bare (whose other fields are zero). */
const vmidOf = (input: TwoStageInput): number => (input.hgatp.mode === 'sv39x4' ? input.hgatp.vmid : 0);

/**
 * What a pass of a Svadu hart's translation reads from memory instead of the TLB: the entries whose
 * leaf an earlier pass found needing an A/D update. Grows from pass to pass, so the passes end.
 */
interface Bypass {
  /** The combined entry is not used. */
  readonly combined: boolean;
  /** VS-stage levels whose entries matching this GVA are dropped: the walk reads them from memory and refills them. */
  readonly vsLevels: ReadonlySet<Level>;
  /** G-stage entries (`cacheKey(level, GPA prefix)`) read from memory even where this VMID's entry is cached. */
  readonly gKeys: ReadonlySet<string>;
}

const noBypass: Bypass = { combined: false, vsLevels: new Set(), gKeys: new Set() };

/** One translation through the TLB, and what it did with it. */
interface Pass {
  readonly trace: TwoStageTrace;
  readonly hit: CombinedEntry | null;
  readonly vs: { readonly tlb: ConcreteTlb; readonly memoryReads: number; readonly lastTag: Tag | null } | null;
  readonly g: ReadonlyMap<string, readonly GCachedPte[]>;
  readonly gMemory: number;
  readonly gHits: number;
  /** The G-stage entries some read of this pass was served from. */
  readonly gHitKeys: ReadonlySet<string>;
}

/**
 * Translate one access made with V=1 through the TLB, filling it. Pure: the TLB given is not changed.
 *
 * Svade (priv spec, Sv39 "Virtual Address Translation Process" step 7, and "Guest Physical Address
 * Translation" for the G-stage, which uses the same algorithm): a leaf with A=0, or D=0 for a store,
 * raises a (guest-)page fault, whether the leaf came from memory or the TLB.
 *
 * Svadu (step 7): the hart sets A (and D for a store) "atomically": it compares the PTE it used "to the
 * value of the PTE at address a+va.vpn[i]×PTESIZE" in memory and, "if the comparison fails, return[s] to
 * step 2". A cached value is never what memory is known to hold, so a leaf the TLB served that needs an
 * update is not updated from: the translation goes back to memory for it, as hardware does when a TLB
 * hit needs an A/D update. Here that is another pass over the same TLB with those entries bypassed
 * (`Bypass`): the combined entry (both leaves), the VS-stage entry at the leaf's level (the walk's step 2
 * at that level then reads memory, through the G-stage, and refills it), or the G-stage entry at a
 * G-stage leaf's level and GPA prefix. The passes end when every leaf needing an update was read from
 * memory; the last is the translation, its A/D updates (`result.updates`) made against memory.
 * Afterwards the TLB holds each updated leaf as updated (A, and D for a store, set), as the hart wrote it
 * (the reference may cache a PTE as its A/D update left it): never a value older than memory's after the
 * update, so a later store through a leaf without D still finds D=0 and goes back to memory.
 */
export function hartTranslate(tlb: TwoStageTlb, input: TwoStageInput): HartTranslation {
  const vmid = vmidOf(input);
  const asid = input.vsatp.mode === 'sv39' ? input.vsatp.asid : null;
  let bypass = noBypass;
  let pass = translatePass(tlb, input, vmid, asid, bypass);
  const memoryReads = { vs: pass.vs?.memoryReads ?? 0, g: pass.gMemory };
  let backToMemory = 0;
  // Svade never updates A/D, so never goes back; under Svadu each pass bypasses more entries than the last.
  for (let next = input.svade ? null : staleUpdateBasis(pass, bypass); next !== null; next = staleUpdateBasis(pass, bypass)) {
    // Stryker disable next-line all: an internal invariant (bypasses only grow, and there are at most 3 VS levels and 15 G-stage reads)
    if (++backToMemory > 32) throw new Error('a Svadu translation kept going back to memory');
    bypass = next;
    pass = translatePass(tlb, input, vmid, asid, bypass);
    memoryReads.vs += pass.vs?.memoryReads ?? 0;
    memoryReads.g += pass.gMemory;
  }
  const { trace, hit } = pass;
  const made = madeUpdates(trace);
  const vsTlb = pass.vs === null ? null : cacheVsUpdate(pass.vs.tlb, input.gva, pass.vs.lastTag, made.vs);
  const vs = vsTlb === null ? tlb.vs : new Map(tlb.vs).set(vmid, vsTlb);
  const g = cacheGUpdates(pass.g, vmid, made.g);
  const vsPath = trace.vsWalk === null ? [] : trace.vsWalk.path;
  const entry = hit === null && pass.vs !== null ? combinedEntry(trace, input.gva, vmid, pass.vs.lastTag, made) : null;
  const combined = entry === null
    ? tlb.combined
    : new Map(tlb.combined).set(entry.vpn, [entry, ...(tlb.combined.get(entry.vpn) ?? []).filter((e) => e.vmid !== vmid || e.tag !== entry.tag)]);
  return {
    result: trace.result,
    tlb: { vs, g, combined },
    memoryReads,
    gpa: trace.gpa,
    gLookups: trace.gLookups,
    vsPath,
    vsWalk: trace.vsWalk,
    served: { combined: hit !== null, vsHits: hit === null ? vsPath.filter((step) => !step.fromMemory).length : 0, gHits: pass.gHits, backToMemory },
  };
}

/** One translation through the TLB with `bypass`'s entries read from memory, filling copies of the TLB's maps. */
function translatePass(tlb: TwoStageTlb, input: TwoStageInput, vmid: number, asid: number | null, bypass: Bypass): Pass {
  const vsReads = asid === null ? null : tlbWalkReads(withoutVsEntries(tlb.vs.get(vmid) ?? emptyTlb, input.gva, asid, bypass.vsLevels), input.gva, asid);
  const g = new Map(tlb.g);
  const gHitKeys = new Set<string>();
  let gMemory = 0;
  let gHits = 0;
  const hit = bypass.combined ? null : combinedHit(tlb, input, vmid, asid);
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
      const cached = bypass.gKeys.has(key) ? undefined : (g.get(key) ?? []).find((e) => e.tag === vmid);
      if (cached !== undefined) {
        gHits++;
        gHitKeys.add(key);
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
  return { trace, hit, vs: vsReads === null ? null : vsReads.done(), g, gMemory, gHits, gHitKeys };
}

/** The VS-stage TLB without the entries a walk of `va` under `asid` would use at `levels`. */
function withoutVsEntries(vs: ConcreteTlb, va: Gva, asid: number, levels: ReadonlySet<Level>): ConcreteTlb {
  if (levels.size === 0) return vs;
  const next = new Map(vs);
  for (const level of levels) {
    const key = cacheKey(level, vpnPrefix(va, level));
    const kept = (vs.get(key) ?? []).filter((e) => e.tag !== 'global' && e.tag !== asid);
    if (kept.length > 0) next.set(key, kept);
    else next.delete(key);
  }
  return next;
}

/**
 * Svadu, step 7: did this pass compute an A/D update from a leaf the TLB served (a combined entry's
 * leaf, or a VS-stage or G-stage entry)? Then the bypass the next pass needs to read it from memory;
 * null if every update it computed was from memory's PTE.
 */
function staleUpdateBasis(pass: Pass, bypass: Bypass): Bypass | null {
  const { trace, hit } = pass;
  let combined = bypass.combined;
  const vsLevels = new Set(bypass.vsLevels);
  const gKeys = new Set(bypass.gKeys);
  let more = false;
  const w = trace.vsWalk;
  // The VS-stage leaf (spec/walk.ts `leafResult`): a combined entry's, or the walk's last read.
  if (w?.kind === 'ok' && w.adUpdate !== null && !(w.path[w.path.length - 1]?.fromMemory ?? false)) {
    if (hit !== null) combined = true;
    else vsLevels.add(w.level);
    more = true;
  }
  const last = trace.gLookups[trace.gLookups.length - 1];
  for (const l of trace.gLookups) {
    if (l.walk?.kind !== 'ok' || l.walk.adUpdate === null) continue;
    // The G-stage leaf of the access itself, from a combined entry (spec/two-stage.ts `gStageLeaf`).
    if (hit !== null && l === last && l.explicit) {
      combined = true;
      more = true;
      continue;
    }
    // A G-stage leaf some read of this pass took from the TLB (its key served a hit): read it from memory.
    const key = cacheKey(l.walk.level, gpaPrefix(l.gpa, l.walk.level));
    if (pass.gHitKeys.has(key) && !gKeys.has(key)) {
      gKeys.add(key);
      more = true;
    }
  }
  return more ? { combined, vsLevels, gKeys } : null;
}

/** The A/D updates a translation made (Svadu): the VS-stage leaf's, and each G-stage leaf's, in order. */
interface MadeUpdates {
  readonly vs: { readonly level: Level; readonly addr: Gpa; readonly pte: PteWord } | null;
  readonly g: readonly { readonly key: string; readonly addr: Hpa; readonly value: PteWord }[];
}

function madeUpdates(trace: TwoStageTrace): MadeUpdates {
  const w = trace.vsWalk;
  // The VS-stage update is made once the G-stage permits its implicit store: the walk then reached its GPA.
  const vs = w?.kind === 'ok' && w.adUpdate !== null && trace.gpa !== null ? { level: w.level, ...w.adUpdate } : null;
  const g = trace.gLookups.flatMap((l) => (l.walk?.kind === 'ok' && l.walk.adUpdate !== null
    ? [{ key: cacheKey(l.walk.level, gpaPrefix(l.gpa, l.walk.level)), ...l.walk.adUpdate }]
    : []));
  return { vs, g };
}

/** The VS-stage entry this walk's leaf filled, holding the leaf as its A/D update left it. */
function cacheVsUpdate(vs: ConcreteTlb, va: Gva, tag: Tag | null, u: MadeUpdates['vs']): ConcreteTlb {
  if (u === null || tag === null) return vs;
  const key = cacheKey(u.level, vpnPrefix(va, u.level));
  const es = vs.get(key);
  if (es === undefined) return vs;
  return new Map(vs).set(key, es.map((e) => (e.tag === tag && e.pteAddr === u.addr ? { ...e, pte: u.pte } : e)));
}

/** This VMID's G-stage entries of the leaves the translation updated, as updated (in order: a later update of the same leaf wins). */
function cacheGUpdates(filled: ReadonlyMap<string, readonly GCachedPte[]>, vmid: number, us: MadeUpdates['g']): ReadonlyMap<string, readonly GCachedPte[]> {
  if (us.length === 0) return filled;
  const g = new Map(filled);
  for (const u of us) {
    const es = g.get(u.key);
    if (es !== undefined) g.set(u.key, es.map((e) => (e.tag === vmid && e.pteAddr === u.addr ? { ...e, pte: u.value } : e)));
  }
  return g;
}

/**
 * The combined entry a translation that walked both stages to valid leaves fills: the VS-stage
 * leaf with the tag its VS-stage entry got, the final GPA's page, and the G-stage leaf, each as
 * its A/D update (Svadu) left it.
 */
function combinedEntry(trace: TwoStageTrace, va: Gva, vmid: number, vsTag: Tag | null, made: MadeUpdates): CombinedEntry | null {
  const vsLeaf = trace.vsWalk;
  const gLeaf = trace.gLookups[trace.gLookups.length - 1]?.walk;
  if (trace.result.kind !== 'ok' || trace.gpa === null || vsLeaf?.kind !== 'ok' || gLeaf?.kind !== 'ok' || vsTag === null) return null;
  return {
    vmid,
    tag: vsTag,
    vpn: vpnOf(va),
    gpa: gpa((trace.gpa >> PAGE_SHIFT) << PAGE_SHIFT),
    leaves: {
      vs: { level: vsLeaf.level, leafAddr: vsLeaf.leafAddr, leaf: made.vs?.pte ?? vsLeaf.leaf, global: vsTag === 'global' },
      g: { level: gLeaf.level, leafAddr: gLeaf.leafAddr, leaf: gLeaf.adUpdate?.value ?? gLeaf.leaf },
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
