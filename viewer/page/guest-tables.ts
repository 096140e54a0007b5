/**
 * The guest's page tables as a tree: from satp's root, each table page's words
 * in guest memory decoded, pointers followed one level down. A table reached a
 * second time at the same level is named, not drawn again, so a guest whose
 * tables share subtables (or point back at themselves) draws each once.
 */
import { type DecodedPte, alignedLeaf, decodePte, hex, pageSize, vaOf } from './pte.ts';
import type { Memory } from './trace-data.ts';

export interface GuestEntry {
  readonly slot: number;
  /** The PTE's guest-physical address. */
  readonly addr: bigint;
  readonly pte: DecodedPte;
  readonly level: number;
  /** The first virtual address the entry translates. */
  readonly va: bigint;
  /** What the walk makes of it, in words (leaf target, or why it faults). */
  readonly note: string;
  readonly child?: GuestTable;
  /** A pointer to a table drawn elsewhere in the tree. */
  readonly seen?: bigint;
}

export interface GuestTable {
  readonly ppn: bigint;
  readonly level: number;
  readonly vpnPrefix: bigint;
  readonly entries: readonly GuestEntry[];
}

const SLOTS = 512;

/** The tree under the root at `rootPpn`: every non-zero word of each table page reached. */
export function guestTree(mem: Memory, rootPpn: bigint): GuestTable {
  const drawn = new Set<string>();
  const table = (ppn: bigint, level: number, vpnPrefix: bigint): GuestTable => {
    drawn.add(`${level}:${ppn}`);
    const base = ppn << 12n;
    const entries: GuestEntry[] = [];
    for (let slot = 0; slot < SLOTS; slot++) {
      const addr = base + BigInt(slot) * 8n;
      const word = mem.get(addr);
      // Zero words are empty entries (V=0 and nothing else): the tree lists what is there.
      if (word === undefined || word === 0n) continue;
      const pte = decodePte(word);
      const prefix = (vpnPrefix << 9n) | BigInt(slot);
      const common = { slot, addr, pte, level, va: vaOf(prefix, level) };
      if (pte.kind === 'invalid') {
        entries.push({ ...common, note: pte.why === undefined ? 'invalid (V=0)' : `invalid: ${pte.why}` });
      } else if (pte.kind === 'leaf') {
        entries.push({
          ...common,
          note: alignedLeaf(pte.ppn, level)
            ? `maps ${pageSizeWords(level)} at guest-physical ${hex(pte.ppn << 12n)}`
            : `misaligned ${pageSize(level)} superpage (page fault)`,
        });
      } else if (level === 0) {
        entries.push({ ...common, note: 'pointer at level 0 (page fault)' });
      } else if (drawn.has(`${level - 1}:${pte.ppn}`)) {
        entries.push({ ...common, note: `-> table ${hex(pte.ppn)} (drawn above)`, seen: pte.ppn });
      } else {
        entries.push({ ...common, note: `-> table ${hex(pte.ppn)}`, child: table(pte.ppn, level - 1, prefix) });
      }
    }
    return { ppn, level, vpnPrefix, entries };
  };
  return table(rootPpn, 2, 0n);
}

const pageSizeWords = (level: number): string => (['a 4 KiB page', 'a 2 MiB superpage', 'a 1 GiB superpage'][level] ?? `a level-${level} page`);

/** Every entry of a tree, depth first. */
export function* guestEntries(t: GuestTable): Generator<GuestEntry> {
  for (const e of t.entries) {
    yield e;
    if (e.child !== undefined) yield* guestEntries(e.child);
  }
}
