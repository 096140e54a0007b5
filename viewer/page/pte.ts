/**
 * PTE words decoded in the page, by the spec's own bit definitions (spec/pte.ts
 * is bundled into the page): what the viewer shows is what the reference reads,
 * not a second decoder that could disagree with it.
 */
import { isValidLeaf, isValidPointer, pteA, pteD, pteG, ptePpn, pteR, pteU, pteV, pteW, pteX } from '../../spec/pte.ts';

export type PteKind = 'pointer' | 'leaf' | 'invalid';

export interface DecodedPte {
  readonly word: bigint;
  readonly ppn: bigint;
  readonly kind: PteKind;
  /** V R W X U G A D, in that order. */
  readonly flags: readonly (readonly [string, boolean])[];
  /** Why an entry with V set is still invalid (the walk's step 3), if it is. */
  readonly why?: string;
}

export function decodePte(word: bigint): DecodedPte {
  const flags: [string, boolean][] = [['V', pteV(word)], ['R', pteR(word)], ['W', pteW(word)], ['X', pteX(word)], ['U', pteU(word)], ['G', pteG(word)], ['A', pteA(word)], ['D', pteD(word)]];
  const ppn = ptePpn(word);
  if (isValidPointer(word)) return { word, ppn, kind: 'pointer', flags };
  if (isValidLeaf(word)) return { word, ppn, kind: 'leaf', flags };
  const why = !pteV(word) ? undefined : !pteR(word) && pteW(word) ? 'W without R is reserved' : (word >> 54n) !== 0n ? 'reserved bits 63..54 set' : 'A, D or U set on a pointer (reserved)';
  return { word, ppn, kind: 'invalid', flags, ...(why === undefined ? {} : { why }) };
}

export const hex = (x: bigint): string => `0x${x.toString(16)}`;

/** Page sizes by level: 4 KiB, 2 MiB, 1 GiB. */
export const pageSize = (level: number): string => (['4 KiB', '2 MiB', '1 GiB'][level] ?? `level ${level}`);

/**
 * The virtual address an Sv39 entry translates from: VPN prefix (the indices
 * above it, then its own) shifted to its level, sign-extended from bit 38.
 */
export function vaOf(vpnPrefix: bigint, level: number): bigint {
  const va = vpnPrefix << (12n + 9n * BigInt(level));
  return (va >> 38n) & 1n ? BigInt.asUintN(64, va | ~((1n << 39n) - 1n)) : va;
}

/** A guest-physical (G-stage, Sv39x4: no sign extension) address from its page-number prefix at a level. */
export const gpaOf = (prefix: bigint, level: number): bigint => prefix << (12n + 9n * BigInt(level));

/** Whether a leaf at this level has the low PPN bits a superpage needs clear (the walk's step 6: otherwise a page fault). */
export const alignedLeaf = (ppn: bigint, level: number): boolean => (ppn & ((1n << (9n * BigInt(level))) - 1n)) === 0n;

/** A big integer from an ITF value, or null if it is not one. */
export function bigOf(v: unknown): bigint | null {
  if (v === null || typeof v !== 'object' || !('#bigint' in v)) return null;
  const s = (v as { '#bigint': unknown })['#bigint'];
  return typeof s === 'string' && /^[0-9]+$/.test(s) ? BigInt(s) : null;
}

const CAUSES: Record<string, string> = {
  '1': 'instruction access fault',
  '5': 'load access fault',
  '7': 'store/AMO access fault',
  '12': 'instruction page fault',
  '13': 'load page fault',
  '15': 'store/AMO page fault',
  '20': 'instruction guest-page fault',
  '21': 'load guest-page fault',
  '23': 'store/AMO guest-page fault',
};

/** An outcome key (spec/guest-action.ts's outcomeKey) in words; unknown forms are given back as they are. */
export function outcomeInWords(key: string): string {
  const ad = / A\/D@(0x[0-9a-f]+)=(0x[0-9a-f]+)$/.exec(key);
  const base = ad === null ? key : key.slice(0, ad.index);
  const adText = ad === null ? '' : `, setting A/D: [${ad[1]}] <- ${ad[2]}`;
  const ok = /^ok pa=(0x[0-9a-f]+)$/.exec(base);
  if (ok !== null) return `reaches guest-physical ${ok[1]}${adText}`;
  const fault = /^fault (\d+) tval=(0x[0-9a-f]+)$/.exec(base);
  if (fault !== null) return `${CAUSES[fault[1] as string] ?? 'trap'} (cause ${fault[1]}), tval ${fault[2]}${adText}`;
  return key;
}

/** A trap line (`cause 22 VS->M m-trap (satp-write)`) in parts, or null for a line of another form. */
export function parseTrap(line: string): { cause: string; from: string; to: string; cost: string; reason: string } | null {
  const m = /^cause (\d+) (\S+)->(\S+) (\S+) \((.*)\)$/.exec(line);
  return m === null ? null : { cause: m[1] as string, from: m[2] as string, to: m[3] as string, cost: m[4] as string, reason: m[5] as string };
}
