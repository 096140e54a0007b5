/**
 * A concrete, deterministic address-translation cache: one hart's TLB as the
 * models' hardware has it. Not part of the architecture (which fixes only the set
 * of allowed outcomes, spec/reference.ts): a property shows this TLB refines it.
 * Can be ignored on first reading.
 *
 * It caches every step-2 read a walk makes from memory (pointers, leaves and
 * invalid PTEs alike), tagged like the reference (ASID, or GLOBAL under a G bit),
 * keeps one entry per (tag, level, VA prefix), prefers a cached entry to memory,
 * never evicts, and removes on SFENCE.VMA exactly what the fence rule says. That
 * makes it as stale as a TLB may be. It models a Svade hart only (a hit on a leaf
 * that needs an A/D update would have to go back to memory), and takes ASIDs
 * already masked to ASIDLEN, as satp and the fences deliver them.
 */
import { type Gpa, type Gva, type Level, isCanonicalSv39, vpnPrefix } from './address.ts';
import { type CachedPte, type Tag, cacheKey, fenceRemoves } from './reference.ts';
import { type AccessContext, type PteRead, type WalkOptions, type WalkResult, walkSv39 } from './walk.ts';
import { passesStep3, pteG } from './pte.ts';

export type ConcreteTlb = ReadonlyMap<string, readonly CachedPte[]>;
export const emptyTlb: ConcreteTlb = new Map();

/** A memory read for the walk: the PTE word, or null when the address fails its PMA check. */
export type MemoryReader = (addr: Gpa) => bigint | null;

export interface TlbWalk {
  readonly result: WalkResult;
  readonly tlb: ConcreteTlb;
  /** Step-2 reads served from memory (each a memory reference of the walk). */
  readonly memoryReads: number;
}

export function tlbTranslate(
  tlb: ConcreteTlb,
  va: Gva,
  asid: number,
  rootPpn: bigint,
  ctx: AccessContext,
  readMemory: MemoryReader,
  opts: WalkOptions,
  paInRam: (pa: Gpa) => boolean,
): TlbWalk {
  if (!opts.svade) throw new Error('the concrete TLB models Svade harts only');
  const reads = tlbWalkReads(tlb, va, asid);
  const [result] = walkSv39(va, rootPpn, ctx, (level, pteAddr) => [reads.read(level, pteAddr, () => readMemory(pteAddr))], opts, paInRam);
  if (result === undefined) throw new Error('a deterministic walk yields one result');
  const { tlb: next, memoryReads } = reads.done();
  return { result, tlb: next, memoryReads };
}

/** One walk's step-2 reads through the TLB, for a walker that drives them itself. */
export interface TlbWalkReads {
  /** The matching cached entry's value, else `memory()` (null: the read failed, nothing is cached), cached. */
  readonly read: (level: Level, pteAddr: Gpa, memory: () => bigint | null) => PteRead;
  /** The TLB after the reads so far, how many memory served, and the tag of the last read's entry. */
  readonly done: () => { readonly tlb: ConcreteTlb; readonly memoryReads: number; readonly lastTag: Tag | null };
}

/**
 * The reads of one walk of `va` under `asid`: `tlbTranslate`'s, and the VS-stage's of a
 * two-stage hart (spec/two-stage-tlb.ts), whose memory read is itself G-stage translated.
 * The TLB is copied once per walk; nothing outside the walk sees it change.
 */
export function tlbWalkReads(tlb: ConcreteTlb, va: Gva, asid: number): TlbWalkReads {
  const next = new Map(tlb);
  let memoryReads = 0;
  let global = false;
  let lastTag: Tag | null = null;
  const read = (level: Level, pteAddr: Gpa, memory: () => bigint | null): PteRead => {
    const key = cacheKey(level, vpnPrefix(va, level));
    const hit = (next.get(key) ?? []).find((e) => e.tag === 'global' || e.tag === asid);
    if (hit !== undefined) {
      // A walk that continues through a cached entry takes that entry's tag: G read from memory
      // above a cached ASID entry does not make what lies below it global (decision 0006, choice 7).
      global = hit.tag === 'global';
      lastTag = hit.tag;
      return { kind: 'pte', pte: hit.pte, fromMemory: false };
    }
    const m = memory();
    if (m === null) return { kind: 'access-fault' };
    memoryReads++;
    if (passesStep3(m) && pteG(m)) global = true;
    const tag: Tag = global ? 'global' : asid;
    lastTag = tag;
    const entry: CachedPte = { tag, level, prefix: vpnPrefix(va, level), pteAddr, pte: m };
    next.set(key, [entry, ...(next.get(key) ?? []).filter((e) => e.tag !== tag)]);
    return { kind: 'pte', pte: m, fromMemory: true };
  };
  return { read, done: () => ({ tlb: next, memoryReads, lastTag }) };
}

/** SFENCE.VMA (or HFENCE.VVMA on the VS-stage) applied to this TLB: the reference's removal rule. */
export function tlbFence(tlb: ConcreteTlb, rs1: Gva | null, rs2: number | null, memPteAt: (addr: Gpa) => bigint): ConcreteTlb {
  // A non-canonical rs1 makes the fence do nothing (priv spec, SFENCE.VMA).
  if (rs1 !== null && !isCanonicalSv39(rs1)) return tlb;
  const next = new Map<string, readonly CachedPte[]>();
  for (const [key, es] of tlb) {
    const kept = es.filter((e) => !fenceRemoves(e, rs1, rs2, memPteAt));
    if (kept.length > 0) next.set(key, kept);
  }
  return next;
}
