/**
 * Saturation, the fixpoint under both references: spec/reference.ts (Sv39, the
 * VS-stage or a single-stage hart) and spec/gstage-reference.ts (Sv39x4, the
 * G-stage). Each says what its tags are and where its walks begin; this file
 * only closes the cache under the walks (decision record 0006, "The form").
 *
 * A saturated cache holds every step-2 read `(tag, level, address prefix, PTE
 * address, value)` some legal execution could have cached and no fence has
 * removed. Saturating adds every read of every walk the hart could begin now,
 * each read returning memory or a matching cached value, until nothing new is
 * read. It is exact over a declared universe of pages: a walk of an address reads
 * only entries keyed by that address's prefixes, and those are filled only by
 * walks through the same prefixes.
 */
import { type Level, PAGE_SHIFT } from './address.ts';
import { isValidPointer, ptePpn } from './pte.ts';

/** One cached step-2 read. `A` is the address space the tables live in (guest- or host-physical). */
export interface CachedRead<T, A extends bigint> {
  readonly tag: T;
  readonly level: Level;
  readonly prefix: bigint;
  readonly pteAddr: A;
  readonly pte: bigint;
}

/** Entries by `level:prefix`, each list sorted and free of duplicates, so equal histories give equal states. */
export type Saturated<T, A extends bigint> = ReadonlyMap<string, readonly CachedRead<T, A>[]>;

export const cacheKey = (level: Level, prefix: bigint): string => `${level}:${prefix.toString(16)}`;

/** Where a page's walk reads at each level: the cache key, the address prefix and the PTE's offset in its table. */
export interface PageGeometry {
  readonly index: number;
  readonly levels: { readonly [L in Level]: { readonly key: string; readonly prefix: bigint; readonly offset: bigint } };
}

/**
 * The geometry of a universe of page numbers under one scheme's `place` (its prefix and table index
 * per level). A universe never changes within a run, so each is computed once (not part of the semantics).
 */
export function geometryOf(place: (page: bigint, level: Level) => { readonly prefix: bigint; readonly index: bigint }): (universe: readonly bigint[]) => readonly PageGeometry[] {
  const known = new WeakMap<readonly bigint[], readonly PageGeometry[]>();
  return (universe) => {
    const had = known.get(universe);
    // Stryker disable next-line ConditionalExpression: a memo of a pure function of an immutable universe
    if (had !== undefined) return had;
    const at = (page: bigint, level: Level) => {
      const { prefix, index } = place(page, level);
      return { key: cacheKey(level, prefix), prefix, offset: index * 8n };
    };
    const pages = universe.map((page, index) => ({ index, levels: { 2: at(page, 2), 1: at(page, 1), 0: at(page, 0) } }));
    known.set(universe, pages);
    return pages;
  };
}

/** The walks a hart could begin now, and how their reads are tagged. */
export interface WalkSpace<T, A extends bigint> {
  /** The root tables walks begin at, each with the tag (ASID, VMID) its reads are made under. */
  readonly roots: readonly { readonly tag: T; readonly table: bigint }[];
  readonly pages: readonly PageGeometry[];
  /** A step-2 read from memory, or null where the PTE's address fails its PMA check (nothing read, nothing cached). */
  readonly memory: (addr: A) => bigint | null;
  /** A PTE address as its address space's type. */
  readonly address: (x: bigint) => A;
  /**
   * The tag of the mappings every address space shares, and the PTE that puts a walk inside them
   * (Sv39: GLOBAL, entered by a G bit); null where the scheme has none (Sv39x4 ignores G).
   */
  readonly shared: { readonly tag: T; readonly enters: (pte: bigint) => boolean } | null;
}

/**
 * Saturate: add every step-2 read of every walk in `space`, each read returning memory or a
 * cached value of the walk's tag or the shared one. A memory read is tagged shared if the walk
 * is inside a shared subtree so far or the PTE enters one; a walk that goes on through a cached
 * entry goes on in that entry's address space, whatever it read above it (decision record 0006,
 * choice 7). A cached shared pointer below the root may begin a walk of its own (choice 5).
 * Returns `base` itself when nothing was added.
 */
export function saturateWalks<T, A extends bigint>(base: Saturated<T, A>, space: WalkSpace<T, A>): Saturated<T, A> {
  const { roots, pages, shared } = space;
  // Stryker disable next-line ConditionalExpression: with no roots no walk adds anything, and an ungrown cache returns base anyway
  if (roots.length === 0) return base;
  const cache = new GrowingCache(base);
  let grew = true;
  let visited = new Map<bigint, Set<number>>();
  // One closure for the whole saturation, not one per root and page: this is the reference's inner loop.
  const visit = (root: number, tag: T, page: PageGeometry, level: Level, tableBase: bigint, inShared: boolean): void => {
    const at = page.levels[level];
    // One visit per (root, page, level, table, shared) per pass: the walks below it are the same.
    const mark = ((root * pages.length + page.index) * 3 + level) * 2 + (inShared ? 1 : 0);
    const seen = visited.get(tableBase);
    // Stryker disable ConditionalExpression: forgetting or ignoring marks only repeats visits, and revisiting a marked walk adds nothing it did not add the first time (more work, same cache)
    if (seen === undefined) visited.set(tableBase, new Set([mark]));
    else if (seen.has(mark)) return;
    else seen.add(mark);
    // Stryker restore ConditionalExpression
    const pteAddr = space.address(tableBase + at.offset);
    // Each value this read may return, with whether the walk is inside a shared subtree below it
    // (a value listed twice is visited once: the mark above stops the second visit).
    const continuations: { readonly pte: bigint; readonly inShared: boolean }[] = [];
    const m = space.memory(pteAddr);
    if (m !== null) {
      const s = shared !== null && (inShared || shared.enters(m));
      if (cache.add({ tag: s && shared !== null ? shared.tag : tag, level, prefix: at.prefix, pteAddr, pte: m }, at.key) === 'late') grew = true;
      if (goesOn(level, m)) continuations.push({ pte: m, inShared: s });
    }
    for (const e of cache.at(at.key)) {
      const isShared = shared !== null && e.tag === shared.tag;
      if ((isShared || e.tag === tag) && goesOn(level, e.pte)) continuations.push({ pte: e.pte, inShared: isShared });
    }
    for (const c of continuations) visit(root, tag, page, (level - 1) as Level, ptePpn(c.pte) << PAGE_SHIFT, c.inShared);
  };
  // An entry added to a key that this pass had already read may serve those reads: pass again until none is.
  while (grew) {
    grew = false;
    cache.newPass();
    visited = new Map();
    for (const [root, { tag, table }] of roots.entries()) {
      for (const page of pages) {
        visit(root, tag, page, 2, table, false);
        if (shared === null) continue;
        for (const e of cache.at(page.levels[1].key)) {
          if (e.tag === shared.tag && isValidPointer(e.pte)) visit(root, tag, page, 0, ptePpn(e.pte) << PAGE_SHIFT, true);
        }
      }
    }
  }
  return cache.grown() ? cache.result() : base;
}

/** Whether a walk goes on from a PTE it read at `level`: a valid pointer above level 0. */
const goesOn = (level: Level, pte: bigint): boolean => level > 0 && isValidPointer(pte);

/** The saturated cache while saturation adds to it: the immutable cache, with the keys that grew copied. */
class GrowingCache<T, A extends bigint> {
  private readonly touched = new Map<string, CachedRead<T, A>[]>();
  /** Keys read in the current pass. */
  private read = new Set<string>();

  constructor(private readonly base: Saturated<T, A>) {}

  // Stryker disable next-line BlockStatement: a pass that forgets nothing it read only reports more adds as late, costing extra passes to the same fixpoint
  newPass(): void {
    this.read = new Set();
  }

  at(key: string): readonly CachedRead<T, A>[] {
    this.read.add(key);
    return this.peek(key);
  }

  private peek(key: string): readonly CachedRead<T, A>[] {
    return this.touched.get(key) ?? this.base.get(key) ?? [];
  }

  /** Add an entry: 'known' if it was there already, 'late' if this pass had read its key before, else 'added'. */
  add(e: CachedRead<T, A>, key: string): 'known' | 'late' | 'added' {
    const list = this.peek(key);
    if (list.some((x) => x.pteAddr === e.pteAddr && x.pte === e.pte && x.tag === e.tag)) return 'known';
    this.touched.set(key, [...list, e]);
    return this.read.has(key) ? 'late' : 'added';
  }

  grown(): boolean {
    // Stryker disable next-line ConditionalExpression,EqualityOperator: with nothing grown, result() is a copy equal to the base
    return this.touched.size > 0;
  }

  /** The new saturated cache: each grown key's entries sorted by identity, so equal histories give equal states. */
  result(): Saturated<T, A> {
    // Stryker disable next-line ArrowFunction: the sort key only orders a set (see below)
    const entryKey = (e: CachedRead<T, A>): string => `${String(e.tag)}|${e.pteAddr}|${e.pte}`;
    const cache = new Map(this.base);
    // Stryker disable next-line all: the entries of a key form a set; sorting makes equal histories give equal states, and no reader depends on the order
    for (const [key, list] of this.touched) cache.set(key, [...list].sort((a, b) => (entryKey(a) < entryKey(b) ? -1 : 1)));
    return cache;
  }
}

const addressesReadOf = new WeakMap<Saturated<unknown, bigint>, ReadonlySet<bigint>>();

/**
 * The PTE addresses a saturated cache's entries were read from (once per cache, which is
 * immutable). A saturated cache holds every PTE a walk from the current roots reads, so a store
 * to any other word changes no walk and needs no saturation.
 */
export function addressesRead<T, A extends bigint>(cache: Saturated<T, A>): ReadonlySet<bigint> {
  let read = addressesReadOf.get(cache);
  // Stryker disable next-line ConditionalExpression: a memo of a pure function of an immutable cache
  if (read === undefined) {
    read = new Set([...cache.values()].flatMap((es) => es.map((e) => e.pteAddr)));
    addressesReadOf.set(cache, read);
  }
  return read;
}
