/**
 * The reference: for any access, the exact set of outcomes a conforming hart may
 * produce (docs/decisions/0006, after Syeda & Klein's saturated TLB).
 *
 * Besides memory and CSRs it keeps the *saturated cache*: every step-2 read
 * `(tag, level, VA prefix, PTE address, value)` that some legal execution could
 * have cached and no fence has removed since. After every step it saturates: it
 * runs every walk the hart could begin now and adds every read it performs.
 * An access's allowed outcomes are the results of every walk whose reads each
 * return current memory or a matching cached value.
 *
 * Exactness is over a declared finite set of virtual pages (the *universe*): the
 * allowed set of an address in the universe equals the one the unbounded
 * saturated cache gives, because a walk of `va` only ever reads entries keyed by
 * prefixes of `va`, and those are filled only by walks through the same prefixes.
 */
import {
  type Gpa, type Gva, type Level, PAGE_SHIFT, PTE_SIZE, gpa, hex, isCanonicalSv39, vpnIndex, vpnOf, vpnPrefix,
} from './address.ts';
import { type GuestConfig, inRam, maskAsid } from './config.ts';
import { type AccessAction, type GuestAction, type Outcome, type Satp, outcomeKey, outcomeWrites } from './guest-action.ts';
import { type Memory, emptyMemory, readWord, writeWord } from './memory.ts';
import { isValidLeaf, isValidPointer, passesStep3, pteG, ptePpn } from './pte.ts';
import { type CachedRead, type Saturated, addressesRead, cacheKey, geometryOf, saturateWalks } from './saturation.ts';
import { type AccessContext, type PteRead, type WalkStep, exceptionFor, walkSv39 } from './walk.ts';

/**
 * An entry is tagged by the ASID it was walked under, or GLOBAL if its walk was
 * inside a global subtree: a G bit on itself or on a PTE read from memory above it
 * since the walk last continued through a cached entry, or that cached entry was
 * GLOBAL (decision record 0006, choice 7).
 */
export type Tag = number | 'global';

/** A cached step-2 read of a walk over guest-physical tables (spec/saturation.ts). */
export type CachedPte = CachedRead<Tag, Gpa>;

/** Entries by `level:prefix`, each list sorted and free of duplicates, so equal histories give equal states. */
export type SaturatedCache = Saturated<Tag, Gpa>;

export interface ReferenceState {
  readonly cfg: GuestConfig;
  /** Virtual page numbers on which the reference is exact. */
  readonly universe: readonly bigint[];
  readonly mem: Memory;
  readonly satp: Satp;
  readonly sum: boolean;
  readonly mxr: boolean;
  readonly cache: SaturatedCache;
  /** (ASID, root) pairs loaded since the last rs1=x0 fence covering the ASID; used only when cfg.walksInFlight. */
  readonly inFlightRoots: readonly { readonly asid: number; readonly rootPpn: bigint }[];
}

export { cacheKey };

export function initialReference(cfg: GuestConfig, universe: readonly Gva[], mem: Memory = emptyMemory): ReferenceState {
  return {
    cfg,
    // Stryker disable next-line all: the universe is a set; its order only orders iterations whose results are sorted or are sets
    universe: [...new Set(universe.map(vpnOf))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    mem,
    satp: { mode: 'bare' },
    sum: false,
    mxr: false,
    cache: new Map(),
    inFlightRoots: [],
  };
}

/** Entries usable by a step-2 read at this level for `va` under `asid`: its own ASID or global. */
export function matchingEntries(cache: SaturatedCache, level: Level, va: Gva, asid: number): readonly CachedPte[] {
  return (cache.get(cacheKey(level, vpnPrefix(va, level))) ?? []).filter((e) => e.tag === 'global' || e.tag === asid);
}

/**
 * Global entries below the root that a walk of `va` may begin with, whatever the
 * ASID and whatever the levels above hold (the G-bit rule: a global mapping may
 * be used in every address space). An entry is GLOBAL only if its walk was inside
 * a global subtree (a PTE that passed step 3 carried G: itself, or a pointer read
 * from memory above it on the same walk, or above the GLOBAL entry the walk went on
 * through), so an invalid entry here lies inside a global subtree, and starting
 * from it gives that subtree's fault.
 */
export function globalStarts(cache: SaturatedCache, va: Gva): WalkStep[] {
  const out: WalkStep[] = [];
  for (const level of [1, 0] as const) {
    for (const e of cache.get(cacheKey(level, vpnPrefix(va, level))) ?? []) {
      // Stryker disable next-line BooleanLiteral: fromMemory is not part of an outcome; the reference's tags come from saturation
      if (e.tag === 'global') out.push({ level, pteAddr: e.pteAddr, pte: e.pte, fromMemory: false });
    }
  }
  return out;
}

/**
 * Saturate: add every step-2 read of every walk the hart could begin now
 * (priv spec, "Address-Translation Cache": walks begin only while satp is active
 * and read only structures reached from it; V=0 PTEs may be cached). Each read
 * returns memory or a matching cached value. A memory read is tagged GLOBAL if the
 * walk is global so far: a G bit on a PTE read from memory above it (or on itself,
 * counting only PTEs that pass step 3), or, once the walk has continued through a
 * cached entry, that entry's tag and the G bits read from memory below it. A G
 * read from memory above a cached ASID entry does not make what lies below it
 * global (decision record 0006, choice 7). Walks may also begin at a cached global
 * pointer below the root (see `globalStarts`).
 */
export function saturate(s: ReferenceState): ReferenceState {
  const roots: { tag: Tag; table: bigint }[] = [];
  if (s.satp.mode === 'sv39') roots.push({ tag: s.satp.asid, table: s.satp.rootPpn << PAGE_SHIFT });
  // Empty unless cfg.walksInFlight: only then does a satp write add the root it leaves (referenceStep).
  roots.push(...s.inFlightRoots.map((r) => ({ tag: r.asid, table: r.rootPpn << PAGE_SHIFT })));
  const cache = saturateWalks(s.cache, {
    roots,
    pages: universeGeometry(s.universe),
    memory: (addr) => (inRam(s.cfg, addr) ? readWord(s.mem, addr) : null),
    address: gpa,
    // Sv32 PTE G bit: G on a pointer makes its subtree global; a PTE failing step 3 carries no meaning, G included.
    shared: { tag: 'global', enters: (pte) => passesStep3(pte) && pteG(pte) },
  });
  // Stryker disable next-line ConditionalExpression: a shortcut; without it the state returned is an equal copy
  return cache === s.cache ? s : { ...s, cache };
}

/** Where a virtual page's walk reads: Sv39's VA prefix and vpn[i] index per level. */
const universeGeometry = geometryOf((vpn, level) => {
  const va = (vpn << PAGE_SHIFT) as Gva;
  return { prefix: vpnPrefix(va, level), index: vpnIndex(va, level) };
});

/**
 * SFENCE.VMA rs1, rs2 (priv spec, "Supervisor Memory-Management Fence
 * Instruction"): which cached entries it removes.
 * - rs1=x0: every entry (rs2=x0) or every non-global entry of that ASID.
 * - rs1=va: only entries holding *leaf* PTEs for va (the leaf's page, of its level,
 *   contains va), of every ASID or of that ASID and not global. An entry that
 *   fails step 3 is removed too unless the PTE it was read from now holds a valid
 *   pointer: software may fence lazily only after making an invalid PTE a valid
 *   leaf (decision record 0006, choice 2).
 * - A non-canonical rs1 makes the fence do nothing. ASID bits above ASIDLEN are ignored.
 */
export function fenceRemoves(
  e: CachedPte,
  rs1: Gva | null,
  rs2: number | null,
  memPteAt: (addr: Gpa) => bigint,
): boolean {
  // A global entry's tag is never an ASID, so an ASID-specific fence keeps it.
  if (rs2 !== null && e.tag !== rs2) return false;
  if (rs1 === null) return true;
  if (e.prefix !== vpnPrefix(rs1, e.level)) return false;
  if (isValidLeaf(e.pte)) return true;
  if (passesStep3(e.pte)) return false; // a valid pointer: an rs1=va fence orders leaf accesses only
  return !isValidPointer(memPteAt(e.pteAddr));
}

function sfence(s: ReferenceState, rs1: Gva | null, rs2raw: number | null): ReferenceState {
  if (rs1 !== null && !isCanonicalSv39(rs1)) return s;
  const rs2 = rs2raw === null ? null : maskAsid(s.cfg, rs2raw);
  const memAt = (a: Gpa) => readWord(s.mem, a);
  const inFlightRoots = rs1 === null ? s.inFlightRoots.filter((r) => rs2 !== null && r.asid !== rs2) : s.inFlightRoots;
  return removeEntries({ ...s, inFlightRoots }, (e) => fenceRemoves(e, rs1, rs2, memAt));
}

/**
 * The cached entries `removes` picks taken out, then saturation: what a fence does
 * once it has said which entries go. `sfence` and the SBI range fence
 * (spec/sbi.ts, one or more SFENCE.VMA over a range of pages) share it.
 */
export function removeEntries(s: ReferenceState, removes: (e: CachedPte) => boolean): ReferenceState {
  const cache = new Map<string, readonly CachedPte[]>();
  for (const [key, es] of s.cache) {
    const kept = es.filter((e) => !removes(e));
    // Stryker disable next-line ConditionalExpression,EqualityOperator: an empty list and no list are the same cache (`?? []` everywhere it is read)
    if (kept.length > 0) cache.set(key, kept);
  }
  return saturate({ ...s, cache });
}

/**
 * A physical store, then saturation. Every state this module returns is saturated,
 * and a saturated cache holds every PTE that a walk from the current roots reads
 * (each memory read is added as an entry), so a store to a word no cached entry was
 * read from changes no walk: saturating again would add nothing, and is skipped.
 */
function store(s: ReferenceState, addr: Gpa, value: bigint): ReferenceState {
  return stored(s, writeWord(s.mem, addr, value), addr);
}

/**
 * The state once memory has become `mem` through a store to `addr`, by this hart
 * or by another that shares its memory (spec/harts.ts: every hart's cache
 * saturates against every store, whichever hart made it).
 */
export function stored(s: ReferenceState, mem: Memory, addr: Gpa): ReferenceState {
  // Stryker disable next-line ConditionalExpression: a shortcut; without it the state returned is an equal copy
  if (mem === s.mem) return s;
  return addressesRead(s.cache).has(addr) ? saturate({ ...s, mem }) : { ...s, mem };
}

/** Apply a guest action other than an access (whose effect depends on its outcome: `referenceAccess`). */
export function referenceStep(s: ReferenceState, a: Exclude<GuestAction, AccessAction>): ReferenceState {
  switch (a.kind) {
    case 'ptStore':
      return store(s, a.addr, a.value);
    case 'satp': {
      // Writing satp orders and invalidates nothing (priv spec, "Supervisor Address Translation and Protection Register").
      const satp: Satp = a.satp.mode === 'bare' ? a.satp : { ...a.satp, asid: maskAsid(s.cfg, a.satp.asid) };
      const old = s.satp;
      const inFlightRoots = s.cfg.walksInFlight && old.mode === 'sv39'
        ? [...s.inFlightRoots.filter((r) => r.asid !== old.asid || r.rootPpn !== old.rootPpn), { asid: old.asid, rootPpn: old.rootPpn }]
        : s.inFlightRoots;
      return saturate({ ...s, satp, inFlightRoots });
    }
    case 'sfence':
      return sfence(s, a.rs1, a.rs2);
    // SUM and MXR take effect at once: cached PTEs are re-checked on use (step 5 runs on every access).
    case 'sum':
      return { ...s, sum: a.value };
    case 'mxr':
      return { ...s, mxr: a.value };
  }
}

export function accessContext(s: { readonly sum: boolean; readonly mxr: boolean }, a: AccessAction): AccessContext {
  return { kind: a.access, priv: a.priv, sum: s.sum, mxr: s.mxr };
}

/** Thrown for an access outside the declared universe: the reference is not exact there. */
export class OutsideUniverseError extends Error {}

/**
 * The exact set of outcomes the architecture allows for this access now, sorted
 * by `outcomeKey`. Never empty: the walk that reads memory at every step is in it.
 */
export function allowedOutcomes(s: ReferenceState, a: AccessAction): Outcome[] {
  const ctx = accessContext(s, a);
  const fault = (cause: number): Outcome => ({ kind: 'fault', cause, tval: a.va });
  if (s.satp.mode === 'bare') {
    // Bare: no translation, whatever is cached; only the PMA check of the address itself.
    return [inRam(s.cfg, a.va) ? { kind: 'ok', pa: gpa(a.va), adUpdate: null } : fault(exceptionFor('pa-access-fault', a.access))];
  }
  if (isCanonicalSv39(a.va) && !s.universe.includes(vpnOf(a.va))) {
    throw new OutsideUniverseError(`virtual address ${hex(a.va)} is outside the reference's universe`);
  }
  const asid = s.satp.asid;
  // Stryker disable BooleanLiteral: fromMemory is not part of an outcome; the reference's tags come from saturation
  const read = (level: Level, pteAddr: Gpa): PteRead[] => {
    const reads: PteRead[] = inRam(s.cfg, pteAddr)
      ? [{ kind: 'pte', pte: readWord(s.mem, pteAddr), fromMemory: true }]
      : [{ kind: 'access-fault' }];
    for (const e of matchingEntries(s.cache, level, a.va, asid)) reads.push({ kind: 'pte', pte: e.pte, fromMemory: false });
    return reads;
  };
  // Stryker restore BooleanLiteral
  const out = new Map<string, Outcome>();
  const starts = globalStarts(s.cache, a.va);
  for (const w of walkSv39(a.va, s.satp.rootPpn, ctx, read, { svade: s.cfg.svade }, (pa) => inRam(s.cfg, pa), starts)) {
    let o: Outcome;
    // Step 7 (Svadu): the A/D update is an atomic compare with memory, never the cache; a stale
    // leaf makes the walk return to step 2, so the translation completes only with memory's PTE.
    const update = w.adUpdate ?? null;
    if (update !== null && readWord(s.mem, update.addr) !== (w.kind === 'ok' ? w.leaf : w.path[w.path.length - 1]?.pte)) continue;
    if (w.kind === 'fault') o = update === null ? fault(exceptionFor(w.error, a.access)) : { ...fault(exceptionFor(w.error, a.access)), adUpdate: update };
    else o = { kind: 'ok', pa: w.pa, adUpdate: update };
    out.set(outcomeKey(o), o);
  }
  // Stryker disable next-line EqualityOperator: outcome keys are distinct, so < and <= order them alike
  return [...out.entries()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([, o]) => o);
}

/** The outcome of the walk that reads memory at every step: what a hart with no cache produces. */
export function freshOutcome(s: ReferenceState, a: AccessAction): Outcome {
  return allowedOutcomes({ ...s, cache: new Map() }, a)[0] as Outcome;
}

/**
 * Advance the reference by an access that produced `o` (which must be allowed):
 * the A/D update, then the store. The hart may cache the PTE as it updated it
 * before the store lands (even a store that overwrites that very PTE), so the
 * cache is saturated in between.
 */
export function referenceAccess(s: ReferenceState, a: AccessAction, o: Outcome): ReferenceState {
  let next = s;
  for (const [addr, value] of outcomeWrites(a, o)) next = store(next, addr, value);
  return next;
}

/**
 * Is this walk of `va` (its step-2 reads, root first) one the architecture allows
 * now? Each read must sit where the previous one points and return memory or a
 * matching cached value.
 */
export function walkAllowed(
  s: ReferenceState,
  va: Gva,
  path: readonly { readonly level: Level; readonly pteAddr: Gpa; readonly pte: bigint }[],
): boolean {
  if (s.satp.mode !== 'sv39') return false;
  // A walk: root first, one level at a time (2, 1, ...), valid pointers down to one valid leaf.
  const last = path[path.length - 1];
  if (last === undefined || !isValidLeaf(last.pte)) return false;
  if (path.some((p, i) => p.level !== 2 - i || (p !== last && !isValidPointer(p.pte)))) return false;
  let base = s.satp.rootPpn << PAGE_SHIFT;
  for (const step of path) {
    if (step.pteAddr !== base + vpnIndex(va, step.level) * PTE_SIZE) return false;
    const fromMemory = inRam(s.cfg, step.pteAddr) && readWord(s.mem, step.pteAddr) === step.pte;
    if (!fromMemory && !matchingEntries(s.cache, step.level, va, s.satp.asid).some((e) => e.pte === step.pte)) return false;
    base = ptePpn(step.pte) << PAGE_SHIFT;
  }
  return true;
}
