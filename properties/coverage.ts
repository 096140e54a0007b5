/**
 * Generator coverage: which of the situations the properties are hardest on a
 * program's events create, classified from the events alone against the guest's
 * own bookkeeping (the memory its page-table stores made, the satp, SUM and MXR it
 * wrote), never against a machine's outcomes, so every machine counts the same.
 *
 * - `pointer-change-lN`: a page-table store that changes a slot whose old or new
 *   value is a valid pointer, once for each level N at which some walk of a pool
 *   VA from a pool root reads that slot; `pointer-change-unlinked` if none does.
 *   `pointer-change-used-lN` (N = 2, 1): the same, where a walk the program has
 *   used (a root and a page it accessed under that root) reads the slot at level N:
 *   the walks whose non-leaf entries a hart or a shadow may still hold.
 *   `pointer-change-shared`: a pointer change at a slot the walks from two or more
 *   pool roots read, at least one of them below the root level: a change in a
 *   lower-level table two address spaces see at once.
 * - `table-freed`: a page-table store that leaves a page of the guest's page-table
 *   pool with no non-zero word (what a freeTable command ends with);
 *   `freed-table-reused-as-data`: the first data store into a freed page since it
 *   was freed; `freed-table-relinked`: a valid pointer to a freed page stored
 *   anywhere, the first since it was freed.
 * - `data-store-new-offset`: a data store to a word of a page that has already
 *   taken a data store at another word in this program.
 * - `data-store-on-pte`: a data store to a word of a page-table pool page that
 *   some walk of a pool VA from a pool root reads: a PTE changed behind the
 *   guest's page-table stores, through a mapping of its own table.
 * - `satp-shared-table`: a satp write loading a root whose walks read a
 *   lower-level table that another pool root's walks read too.
 *
 * A data store is an access store, placed where the guest's fresh walk of its
 * address (the current root, permissions, A/D under Svade) puts it; one that
 * faults stores nothing. The bookkeeping leaves data stores out of memory, as
 * the generator's does (properties/commands.ts).
 */
import { type Gpa, type Gva, type Level, PAGE_SHIFT, gva, isCanonicalSv39, vpnIndex } from '../spec/address.ts';
import { inRam } from '../spec/config.ts';
import { type Memory, pageWords, readWord, writeWord } from '../spec/memory.ts';
import { isValidPointer, ptePpn } from '../spec/pte.ts';
import { type PteRead, type Privilege, walkSv39 } from '../spec/walk.ts';
import type { MachineEvent } from '../model/machine.ts';
import { PT_FRAMES, ROOTS, VAS, guestConfig } from './pools.ts';

export const COVERAGE_NAMES = [
  'pointer-change-l2', 'pointer-change-l1', 'pointer-change-l0', 'pointer-change-unlinked',
  'pointer-change-used-l2', 'pointer-change-used-l1', 'pointer-change-shared',
  'table-freed', 'freed-table-reused-as-data', 'freed-table-relinked', 'data-store-new-offset', 'data-store-on-pte',
  'satp-shared-table',
] as const;
export type CoverageName = (typeof COVERAGE_NAMES)[number];

export interface Bookkeeping {
  /** Guest memory as the page-table stores left it. */
  readonly mem: Memory;
  readonly rootPpn: bigint | null;
  readonly sum: boolean;
  readonly mxr: boolean;
  /** Pages freed and not yet reused as data, and pages freed and not yet relinked. */
  readonly unreused: ReadonlySet<bigint>;
  readonly unlinked: ReadonlySet<bigint>;
  /** The words (slot numbers) of each page that have taken a data store. */
  readonly stored: ReadonlyMap<bigint, ReadonlySet<bigint>>;
  /** By root: the pages (page-aligned VAs) accessed under it, whatever the outcome: the hart walked them. */
  readonly used: ReadonlyMap<bigint, ReadonlySet<Gva>>;
  /**
   * The tables below each pool root in `mem`, once asked for: they change only
   * when a valid pointer is stored or overwritten (null: not made since).
   */
  readonly below: Below | null;
}

export const startCoverage = (mem: Memory): Bookkeeping => ({
  mem, rootPpn: null, sum: false, mxr: false, unreused: new Set(), unlinked: new Set(), stored: new Map(), used: new Map(), below: null,
});

const adding = <T>(s: ReadonlySet<T>, x: T): ReadonlySet<T> => (s.has(x) ? s : new Set([...s, x]));
const removing = <T>(s: ReadonlySet<T>, x: T): ReadonlySet<T> => (s.has(x) ? new Set([...s].filter((y) => y !== x)) : s);
const POOL_TABLES = new Set(PT_FRAMES);

export interface Classified {
  readonly bookkeeping: Bookkeeping;
  readonly counts: readonly CoverageName[];
}

const NOTHING: readonly CoverageName[] = [];
const SHARED: readonly CoverageName[] = ['satp-shared-table'];

/** Classify one event, and the bookkeeping after it. */
export function coverage(e: MachineEvent, b: Bookkeeping): Classified {
  // A switch, not ts-pattern: this runs on every step of every run, and the compiler checks it is exhaustive all the same.
  switch (e.kind) {
    case 'ptStore':
      return pageTableStore(e.addr, e.value, b);
    case 'access': {
      const used = usedWith(b, e.va);
      const after = used === b.used ? b : { ...b, used };
      const pa = e.access === 'store' ? freshStoreAddress(b, e.va, e.priv) : null;
      return pa === null ? { bookkeeping: after, counts: NOTHING } : dataStore(pa, after);
    }
    case 'satp': {
      const rootPpn = e.satp.mode === 'bare' ? null : e.satp.rootPpn;
      if (rootPpn === null) return { bookkeeping: { ...b, rootPpn }, counts: NOTHING };
      const below = b.below ?? belowPoolRoots(b.mem);
      return { bookkeeping: { ...b, rootPpn, below }, counts: sharesTable(b.mem, below, rootPpn) ? SHARED : NOTHING };
    }
    case 'sum':
      return { bookkeeping: { ...b, sum: e.value }, counts: NOTHING };
    case 'mxr':
      return { bookkeeping: { ...b, mxr: e.value }, counts: NOTHING };
    case 'sfence':
    case 'hostRemap':
    case 'hostWriteProtect':
    case 'hostUnprotect':
      return { bookkeeping: b, counts: NOTHING };
  }
}

function pageTableStore(addr: Gpa, value: bigint, b: Bookkeeping): Classified {
  const old = readWord(b.mem, addr);
  const mem = writeWord(b.mem, addr, value);
  if (mem === b.mem) return { bookkeeping: b, counts: NOTHING };
  // A walk follows valid pointers and stops at anything else: only a store with a pointer on one side changes what the walks read.
  const pointerChange = mayPoint(old) || mayPoint(value);
  const page = addr >> PAGE_SHIFT;
  const freed = POOL_TABLES.has(page) && pageWords(mem, page).size === 0;
  const target = mayPoint(value) ? ptePpn(value) : null;
  const relinked = target !== null && b.unlinked.has(target);
  // Most stores change a leaf of a live table: nothing to count, and no set to copy.
  if (!pointerChange && !freed && !relinked) return { bookkeeping: { ...b, mem }, counts: NOTHING };
  const counts: CoverageName[] = pointerChange ? pointerChangeCounts(b, addr) : [];
  let { unreused, unlinked } = b;
  if (freed) {
    counts.push('table-freed');
    unreused = adding(unreused, page);
    unlinked = adding(unlinked, page);
  }
  if (relinked) {
    counts.push('freed-table-relinked');
    unlinked = removing(unlinked, target);
    // Relinked before any data landed in it: a later store into it is a store into a live table, not a reuse.
    unreused = removing(unreused, target);
  }
  return { bookkeeping: { ...b, mem, unreused, unlinked, below: pointerChange ? null : b.below }, counts };
}

/** The counts of a pointer change, by the bit set of levels at which the walks read its slot (none: unlinked). */
const POINTER_CHANGE_AT: readonly (readonly CoverageName[])[] = Array.from({ length: 8 }, (_v, bits) => {
  const at = ([2, 1, 0] as const).filter((l) => (bits & (1 << l)) !== 0).map((l): CoverageName => `pointer-change-l${l}`);
  return at.length === 0 ? ['pointer-change-unlinked'] : at;
});

/** The counts of a pointer change at `addr`, from the walks over memory before it. */
function pointerChangeCounts(b: Bookkeeping, addr: Gpa): CoverageName[] {
  const { levels, roots } = readLevels(b.mem, addr);
  const counts = [...POINTER_CHANGE_AT[levels] ?? []];
  const used = usedLevels(b, addr);
  if ((used & (1 << 2)) !== 0) counts.push('pointer-change-used-l2');
  if ((used & (1 << 1)) !== 0) counts.push('pointer-change-used-l1');
  if (roots >= 2 && (levels & 0b011) !== 0) counts.push('pointer-change-shared');
  return counts;
}

function usedWith(b: Bookkeeping, va: Gva): Bookkeeping['used'] {
  if (b.rootPpn === null || !isCanonicalSv39(va)) return b.used;
  const page = gva(va & ~0xfffn);
  const pages = b.used.get(b.rootPpn);
  if (pages?.has(page) === true) return b.used;
  return new Map([...b.used, [b.rootPpn, adding(pages ?? new Set<Gva>(), page)]]);
}

/** The levels at which the walks the program used, over memory now, read the PTE at `addr`, as a bit set. */
function usedLevels(b: Bookkeeping, addr: Gpa): number {
  let levels = 0;
  for (const [root, pages] of b.used) {
    for (const va of pages) {
      const [w] = walkSv39(va, root, ANY_LOAD, guestRead(b.mem), { svade: false }, () => true);
      for (const s of w?.path ?? []) if (s.pteAddr === addr) levels |= 1 << s.level;
    }
  }
  return levels;
}

const ANY_LOAD = { kind: 'load', priv: 'S', sum: true, mxr: true } as const;
const guestRead = (mem: Memory) => (_l: Level, a: Gpa): PteRead[] =>
  inRam(guestConfig, a) ? [{ kind: 'pte', pte: readWord(mem, a), fromMemory: true }] : [{ kind: 'access-fault' }];

function dataStore(pa: Gpa, b: Bookkeeping): Classified {
  const page = pa >> PAGE_SHIFT;
  const slot = (pa & 0xfffn) >> 3n;
  const counts: CoverageName[] = [];
  const slots = b.stored.get(page) ?? new Set<bigint>();
  if (slots.size > 0 && !slots.has(slot)) counts.push('data-store-new-offset');
  // Only a pool page can be a table a pool walk reads (pointers name pool frames), so most stores skip the traversal.
  if (POOL_TABLES.has(page) && readLevels(b.mem, pa).levels !== 0) counts.push('data-store-on-pte');
  const stored = slots.has(slot) ? b.stored : new Map([...b.stored, [page, adding(slots, slot)]]);
  let unreused = b.unreused;
  if (unreused.has(page)) {
    counts.push('freed-table-reused-as-data');
    unreused = removing(unreused, page);
  }
  return { bookkeeping: { ...b, stored, unreused }, counts };
}

/** Where a store to `va` lands by the guest's fresh walk of its own tables, or null if it faults. */
function freshStoreAddress(b: Bookkeeping, va: Gva, priv: Privilege): Gpa | null {
  if (b.rootPpn === null) return null;
  const [w] = walkSv39(va, b.rootPpn, { kind: 'store', priv, sum: b.sum, mxr: b.mxr }, guestRead(b.mem), guestConfig, (pa) => inRam(guestConfig, pa));
  return w?.kind === 'ok' ? w.pa : null;
}

/**
 * The pool VAs as a tree of their PTE indices (vpn[2], then vpn[1], then vpn[0]),
 * so that the walks of all of them from one root read each PTE once.
 */
interface Node<Below> {
  readonly index: number;
  readonly below: Below;
}
type Tree = readonly Node<readonly Node<readonly Node<null>[]>[]>[];

const TREE: Tree = (() => {
  const at = (va: Gva, level: Level): number => Number(vpnIndex(va, level));
  const node = <B>(index: number, below: B): Node<B> => ({ index, below });
  const distinct = (vas: readonly Gva[], level: Level): number[] => [...new Set(vas.map((va) => at(va, level)))];
  return distinct(VAS, 2).map((i2) => {
    const vas1 = VAS.filter((va) => at(va, 2) === i2);
    return node(i2, distinct(vas1, 1).map((i1) => node(i1, distinct(vas1.filter((va) => at(va, 1) === i1), 0).map((i0) => node(i0, null)))));
  });
})();

/** A valid pointer, tested on V, R, W and X first: most words fail there, and the full test is slow on bigints. */
const mayPoint = (pte: bigint): boolean => (pte & 0xfn) === 1n && isValidPointer(pte);

/** The table a valid pointer leads to, if it is in RAM (a table outside RAM is never read: an access fault). */
function nextTable(pte: bigint | undefined): bigint | null {
  if (pte === undefined || !mayPoint(pte)) return null;
  const ppn = ptePpn(pte);
  return inRam(guestConfig, ppn << PAGE_SHIFT) ? ppn : null;
}

/** By pool root: the tables below it (levels 1 and 0) that the walks of the pool VAs read. */
type Below = ReadonlyMap<bigint, ReadonlySet<bigint>>;

/** What one traversal collects (mutable only inside this file, while it runs). */
interface Reads {
  /** The PTE whose read levels are wanted, if any, and the levels found, as a bit set (bit L: level L). */
  readonly page: bigint;
  readonly slot: number;
  levels: number;
  readonly tables: Set<bigint>;
}

/**
 * Every step-2 read of every pool VA's walk from `root`, as walkSv39 makes them
 * with no cache: a valid pointer leads one level down, anything else ends the walk.
 */
function walkReads(mem: Memory, root: bigint, into: Reads): void {
  if (!inRam(guestConfig, root << PAGE_SHIFT)) return;
  const words2 = pageWords(mem, root);
  for (const n2 of TREE) {
    if (n2.index === into.slot && root === into.page) into.levels |= 1 << 2;
    const t1 = nextTable(words2.get(n2.index));
    if (t1 === null) continue;
    into.tables.add(t1);
    const words1 = pageWords(mem, t1);
    for (const n1 of n2.below) {
      if (n1.index === into.slot && t1 === into.page) into.levels |= 1 << 1;
      const t0 = nextTable(words1.get(n1.index));
      if (t0 === null) continue;
      into.tables.add(t0);
      if (t0 === into.page) for (const n0 of n1.below) if (n0.index === into.slot) into.levels |= 1;
    }
  }
}

/**
 * The levels at which some walk of a pool VA from a pool root reads the PTE at
 * `addr`, as a bit set, and how many pool roots have such a walk.
 */
function readLevels(mem: Memory, addr: Gpa): { levels: number; roots: number } {
  let levels = 0;
  let roots = 0;
  for (const root of ROOTS) {
    const into: Reads = { page: addr >> PAGE_SHIFT, slot: Number((addr & 0xfffn) >> 3n), levels: 0, tables: new Set() };
    walkReads(mem, root, into);
    if (into.levels !== 0) roots++;
    levels |= into.levels;
  }
  return { levels, roots };
}

const tablesBelow = (mem: Memory, root: bigint): ReadonlySet<bigint> => {
  const into: Reads = { page: -1n, slot: -1, levels: 0, tables: new Set() };
  walkReads(mem, root, into);
  return into.tables;
};

const belowPoolRoots = (mem: Memory): Below => new Map(ROOTS.map((root) => [root, tablesBelow(mem, root)]));

function sharesTable(mem: Memory, below: Below, rootPpn: bigint): boolean {
  const mine = below.get(rootPpn) ?? tablesBelow(mem, rootPpn);
  for (const [other, theirs] of below) {
    if (other === rootPpn) continue;
    for (const t of mine) if (theirs.has(t)) return true;
  }
  return false;
}
