/**
 * Generator coverage: which of the situations the properties are hardest on a
 * program's events create, classified from the events alone against the guest's
 * own bookkeeping (the memory its page-table stores made, the satp, SUM and MXR it
 * wrote), never against a machine's outcomes, so every machine counts the same.
 *
 * - `pointer-change-lN`: a page-table store that changes a slot whose old or new
 *   value is a valid pointer, once for each level N at which some walk of a pool
 *   VA from a pool root reads that slot; `pointer-change-unlinked` if none does.
 * - `table-freed`: a page-table store that leaves a page of the guest's page-table
 *   pool with no non-zero word (what a freeTable command ends with);
 *   `freed-table-reused-as-data`: the first data store into a freed page since it
 *   was freed; `freed-table-relinked`: a valid pointer to a freed page stored
 *   anywhere, the first since it was freed.
 * - `data-store-new-offset`: a data store to a word of a page that has already
 *   taken a data store at another word in this program.
 * - `satp-shared-table`: a satp write loading a root whose walks read a
 *   lower-level table that another pool root's walks read too.
 *
 * A data store is an access store, placed where the guest's fresh walk of its
 * address (the current root, permissions, A/D under Svade) puts it; one that
 * faults stores nothing. The bookkeeping leaves data stores out of memory, as
 * the generator's does (properties/commands.ts).
 */
import { type Gpa, type Gva, type Level, PAGE_SHIFT, vpnIndex } from '../spec/address.ts';
import { inRam } from '../spec/config.ts';
import { type Memory, pageWords, readWord, writeWord } from '../spec/memory.ts';
import { isValidPointer, ptePpn } from '../spec/pte.ts';
import { type PteRead, type Privilege, walkSv39 } from '../spec/walk.ts';
import type { MachineEvent } from '../model/machine.ts';
import { PT_FRAMES, ROOTS, VAS, guestConfig } from './pools.ts';

export const COVERAGE_NAMES = [
  'pointer-change-l2', 'pointer-change-l1', 'pointer-change-l0', 'pointer-change-unlinked',
  'table-freed', 'freed-table-reused-as-data', 'freed-table-relinked', 'data-store-new-offset', 'satp-shared-table',
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
}

export const startCoverage = (mem: Memory): Bookkeeping => ({
  mem, rootPpn: null, sum: false, mxr: false, unreused: new Set(), unlinked: new Set(), stored: new Map(),
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
      const pa = e.access === 'store' ? freshStoreAddress(b, e.va, e.priv) : null;
      return pa === null ? { bookkeeping: b, counts: NOTHING } : dataStore(pa, b);
    }
    case 'satp': {
      const rootPpn = e.satp.mode === 'bare' ? null : e.satp.rootPpn;
      return { bookkeeping: { ...b, rootPpn }, counts: rootPpn !== null && sharesTable(b.mem, rootPpn) ? SHARED : NOTHING };
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
  const counts: CoverageName[] = [];
  if (isValidPointer(old) || isValidPointer(value)) {
    const levels = readLevels(b.mem, addr);
    for (const l of [2, 1, 0] as const) if ((levels & (1 << l)) !== 0) counts.push(`pointer-change-l${l}`);
    if (levels === 0) counts.push('pointer-change-unlinked');
  }
  let { unreused, unlinked } = b;
  const page = addr >> PAGE_SHIFT;
  if (POOL_TABLES.has(page) && pageWords(mem, page).size === 0) {
    counts.push('table-freed');
    unreused = adding(unreused, page);
    unlinked = adding(unlinked, page);
  }
  const target = isValidPointer(value) ? ptePpn(value) : null;
  if (target !== null && unlinked.has(target)) {
    counts.push('freed-table-relinked');
    unlinked = removing(unlinked, target);
    // Relinked before any data landed in it: a later store into it is a store into a live table, not a reuse.
    unreused = removing(unreused, target);
  }
  return { bookkeeping: { ...b, mem, unreused, unlinked }, counts };
}

function dataStore(pa: Gpa, b: Bookkeeping): Classified {
  const page = pa >> PAGE_SHIFT;
  const slot = (pa & 0xfffn) >> 3n;
  const counts: CoverageName[] = [];
  const slots = b.stored.get(page) ?? new Set<bigint>();
  if (slots.size > 0 && !slots.has(slot)) counts.push('data-store-new-offset');
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
  const read = (_l: Level, a: Gpa): PteRead[] => (inRam(guestConfig, a) ? [{ kind: 'pte', pte: readWord(b.mem, a), fromMemory: true }] : [{ kind: 'access-fault' }]);
  const [w] = walkSv39(va, b.rootPpn, { kind: 'store', priv, sum: b.sum, mxr: b.mxr }, read, guestConfig, (pa) => inRam(guestConfig, pa));
  return w?.kind === 'ok' ? w.pa : null;
}

/**
 * The pool VAs as a tree of their PTE indices (vpn[2], then vpn[1], then vpn[0]),
 * so that the walks of all of them from one root read each PTE once.
 */
type IndexTree = ReadonlyMap<number, ReadonlyMap<number, readonly number[]>>;

const TREE: IndexTree = (() => {
  const tree = new Map<number, Map<number, number[]>>();
  for (const va of VAS) {
    const [i2, i1, i0] = ([2, 1, 0] as const).map((l) => Number(vpnIndex(va, l))) as [number, number, number];
    const below = tree.get(i2) ?? new Map<number, number[]>();
    tree.set(i2, below);
    below.set(i1, [...(below.get(i1) ?? []), i0]);
  }
  return tree;
})();

/** The table a valid pointer leads to, if it is in RAM (a table outside RAM is never read: an access fault). */
function nextTable(pte: bigint | undefined): bigint | null {
  if (pte === undefined || !isValidPointer(pte)) return null;
  const ppn = ptePpn(pte);
  return inRam(guestConfig, ppn << PAGE_SHIFT) ? ppn : null;
}

/**
 * Every step-2 read of every pool VA's walk from `root`, as walkSv39 makes them
 * with no cache: a valid pointer leads one level down, anything else ends the
 * walk. `visit` sees each read (table page, slot, level) once.
 */
function walkReads(mem: Memory, root: bigint, visit: (table: bigint, slot: number, level: Level) => void): void {
  if (!inRam(guestConfig, root << PAGE_SHIFT)) return;
  const top = pageWords(mem, root);
  for (const [i2, tree1] of TREE) {
    visit(root, i2, 2);
    const t1 = nextTable(top.get(i2));
    if (t1 === null) continue;
    const mid = pageWords(mem, t1);
    for (const [i1, slots0] of tree1) {
      visit(t1, i1, 1);
      const t0 = nextTable(mid.get(i1));
      if (t0 === null) continue;
      for (const i0 of slots0) visit(t0, i0, 0);
    }
  }
}

/** The levels at which some walk of a pool VA from a pool root reads the PTE at `addr`, as a bit set (bit L: level L). */
function readLevels(mem: Memory, addr: Gpa): number {
  const page = addr >> PAGE_SHIFT;
  const slot = Number((addr & 0xfffn) >> 3n);
  let levels = 0;
  for (const root of ROOTS) {
    walkReads(mem, root, (table, i, level) => {
      if (i === slot && table === page) levels |= 1 << level;
    });
  }
  return levels;
}

/** The tables below `root` (levels 1 and 0) that the walks of the pool VAs read. */
function tablesBelow(mem: Memory, root: bigint): ReadonlySet<bigint> {
  const tables = new Set<bigint>();
  walkReads(mem, root, (table, _i, level) => {
    if (level < 2) tables.add(table);
  });
  return tables;
}

function sharesTable(mem: Memory, rootPpn: bigint): boolean {
  const mine = tablesBelow(mem, rootPpn);
  return ROOTS.some((other) => other !== rootPpn && [...tablesBelow(mem, other)].some((t) => mine.has(t)));
}
