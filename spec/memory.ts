/**
 * Word-addressed physical memory as nested per-page records, so that a store
 * copies one page's record and the page index, never the whole memory: a step's
 * cost does not grow with the size of guest memory. Absent words read as zero.
 * Used for guest-physical memory (the reference, the guest's view) and for
 * host-physical memory (the models).
 */
import { enableMapSet, produce } from 'immer';
import { PAGE_SHIFT } from './address.ts';

enableMapSet();

export type Page = ReadonlyMap<number, bigint>;
export type Memory = ReadonlyMap<bigint, Page>;

export const emptyMemory: Memory = new Map();

const slotOf = (addr: bigint): number => Number((addr >> 3n) & 0x1ffn);

/** The 8-byte word at an 8-byte-aligned address (accesses are aligned: decision record 0002). */
export function readWord(mem: Memory, addr: bigint): bigint {
  return mem.get(addr >> PAGE_SHIFT)?.get(slotOf(addr)) ?? 0n;
}

export function writeWord(mem: Memory, addr: bigint, value: bigint): Memory {
  const page = addr >> PAGE_SHIFT;
  const slot = slotOf(addr);
  const v = BigInt.asUintN(64, value);
  if (readWord(mem, addr) === v) return mem;
  return produce(mem, (draft) => {
    const p = draft.get(page);
    if (p === undefined) {
      draft.set(page, new Map([[slot, v]]));
    } else if (v === 0n) {
      p.delete(slot);
      if (p.size === 0) draft.delete(page);
    } else {
      p.set(slot, v);
    }
  });
}

/** The non-zero words of one page, by slot. */
export function pageWords(mem: Memory, page: bigint): Page {
  return mem.get(page) ?? new Map();
}

/** Replace a whole page's contents (a host remap copies a frame this way). */
export function writePage(mem: Memory, page: bigint, words: Page): Memory {
  return produce(mem, (draft) => {
    if (words.size === 0) draft.delete(page);
    else draft.set(page, new Map(words));
  });
}
