/**
 * Word-addressed physical memory, persistent and sparse: absent words read as
 * zero. Used for guest-physical memory (the reference, the guest's view) and for
 * host-physical memory (the models).
 *
 * A step's cost must not grow with the size of memory, so a store copies only
 * small records: pages are kept in a three-level trie keyed by page-number bits
 * (page >> 12, then 6 bits, then 6 bits), and a store copies one page's record
 * and three maps of at most 64 entries (plus the top, one entry per 16 MiB
 * region), sharing everything else.
 */
import { PAGE_SHIFT } from './address.ts';

export type Page = ReadonlyMap<number, bigint>;
type Leaf = ReadonlyMap<bigint, Page>;
type Mid = ReadonlyMap<bigint, Leaf>;

declare const memoryBrand: unique symbol;
export interface Memory {
  readonly top: ReadonlyMap<bigint, Mid>;
  readonly [memoryBrand]?: never;
}

export const emptyMemory: Memory = { top: new Map() };

const EMPTY_PAGE: Page = new Map();
const slotOf = (addr: bigint): number => Number((addr >> 3n) & 0x1ffn);
const keys = (page: bigint): [bigint, bigint, bigint] => [page >> 12n, (page >> 6n) & 63n, page & 63n];

/** The non-zero words of one page, by slot. */
export function pageWords(mem: Memory, page: bigint): Page {
  const [t, m, l] = keys(page);
  return mem.top.get(t)?.get(m)?.get(l) ?? EMPTY_PAGE;
}

/** The 8-byte word at an 8-byte-aligned address (accesses are aligned: decision record 0002). */
export function readWord(mem: Memory, addr: bigint): bigint {
  return pageWords(mem, addr >> PAGE_SHIFT).get(slotOf(addr)) ?? 0n;
}

/** Replace one page's words (empty: the page reads as zeros again), copying only the path to it. */
export function writePage(mem: Memory, page: bigint, words: Page): Memory {
  const [t, m, l] = keys(page);
  const mid = mem.top.get(t) ?? new Map<bigint, Leaf>();
  const leaf = new Map(mid.get(m) ?? []);
  if (words.size === 0) leaf.delete(l);
  else leaf.set(l, words);
  const nextMid = new Map(mid);
  if (leaf.size === 0) nextMid.delete(m);
  else nextMid.set(m, leaf);
  const top = new Map(mem.top);
  if (nextMid.size === 0) top.delete(t);
  else top.set(t, nextMid);
  return { top };
}

export function writeWord(mem: Memory, addr: bigint, value: bigint): Memory {
  const v = BigInt.asUintN(64, value);
  if (readWord(mem, addr) === v) return mem;
  const page = addr >> PAGE_SHIFT;
  const words = new Map(pageWords(mem, page));
  if (v === 0n) words.delete(slotOf(addr));
  else words.set(slotOf(addr), v);
  return writePage(mem, page, words);
}

/**
 * The same words with every page moved `by` pages up: page p's words are at page
 * p + by. `by` must be a multiple of 4,096 pages (one top-level entry, 16 MiB), so
 * the move re-keys only the top of the trie and shares everything below it: its
 * cost does not grow with the number of pages.
 */
export function movePages(mem: Memory, by: bigint): Memory {
  // Stryker disable next-line ConditionalExpression: an internal invariant that never fails; the one caller moves by a constant multiple of 4,096 pages
  if ((by & 0xfffn) !== 0n) throw new Error(`pages can move only by a multiple of 4096, not ${by}`);
  return { top: new Map([...mem.top].map(([t, mid]) => [t + (by >> 12n), mid])) };
}

/** Every page with a non-zero word, in ascending order. */
export function pagesOf(mem: Memory): [bigint, Page][] {
  const out: [bigint, Page][] = [];
  for (const [t, mid] of mem.top) for (const [m, leaf] of mid) for (const [l, words] of leaf) out.push([(t << 12n) | (m << 6n) | l, words]);
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
