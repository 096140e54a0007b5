/**
 * Sv39 page-table entries, bit-exact (priv spec, Sv39 "Addressing and Memory
 * Protection", PTE format figure): V0 R1 W2 X3 U4 G5 A6 D7, RSW 9..8,
 * PPN 53..10 (PPN[0] 18..10, PPN[1] 27..19, PPN[2] 53..28), reserved 60..54,
 * PBMT 62..61, N 63.
 */
export type PteWord = bigint;

export const PTE_V = 1n << 0n;
export const PTE_R = 1n << 1n;
export const PTE_W = 1n << 2n;
export const PTE_X = 1n << 3n;
export const PTE_U = 1n << 4n;
export const PTE_G = 1n << 5n;
export const PTE_A = 1n << 6n;
export const PTE_D = 1n << 7n;

const PPN_MASK = (1n << 44n) - 1n;
/** Bits 63..54: reserved (60..54), PBMT (62..61) and N (63). Svpbmt and Svnapot are off, so all are reserved. */
const RESERVED_HIGH = ((1n << 10n) - 1n) << 54n;

const bit = (pte: PteWord, mask: bigint): boolean => (pte & mask) !== 0n;

export const pteV = (p: PteWord): boolean => bit(p, PTE_V);
export const pteR = (p: PteWord): boolean => bit(p, PTE_R);
export const pteW = (p: PteWord): boolean => bit(p, PTE_W);
export const pteX = (p: PteWord): boolean => bit(p, PTE_X);
export const pteU = (p: PteWord): boolean => bit(p, PTE_U);
export const pteG = (p: PteWord): boolean => bit(p, PTE_G);
export const pteA = (p: PteWord): boolean => bit(p, PTE_A);
export const pteD = (p: PteWord): boolean => bit(p, PTE_D);
export const ptePpn = (p: PteWord): bigint => (p >> 10n) & PPN_MASK;

/** pte.ppn[i] for i in 0..2 (9, 9 and 26 bits). */
export function ptePpnField(p: PteWord, i: 0 | 1 | 2): bigint {
  const ppn = ptePpn(p);
  return i === 2 ? ppn >> 18n : (ppn >> (9n * BigInt(i))) & 0x1ffn;
}

/**
 * Step 3 of the translation process: the PTE is invalid if V=0, if R=0 and W=1
 * (reserved while the shadow-stack extension is off), or if any reserved bit or
 * encoding is set. For a pointer (R=W=X=0), D, A and U are reserved too
 * (priv spec, Sv32 PTE format: "For non-leaf PTEs, the D, A, and U bits are
 * reserved for future standard use").
 */
export function passesStep3(p: PteWord): boolean {
  if (!pteV(p)) return false;
  if (!pteR(p) && pteW(p)) return false;
  if ((p & RESERVED_HIGH) !== 0n) return false;
  if (isPointerEncoding(p) && (p & (PTE_D | PTE_A | PTE_U)) !== 0n) return false;
  return true;
}

/** Step 4: R=0 and X=0 (W is then 0 too, or step 3 failed) means a pointer to the next level. */
const isPointerEncoding = (p: PteWord): boolean => !pteR(p) && !pteX(p);

/** A PTE that passes step 3 and points to the next level. */
export const isValidPointer = (p: PteWord): boolean => passesStep3(p) && isPointerEncoding(p);
/** A PTE that passes step 3 and is a leaf (R or X set). */
export const isValidLeaf = (p: PteWord): boolean => passesStep3(p) && !isPointerEncoding(p);

export interface PteFields {
  readonly ppn: bigint;
  readonly v?: boolean;
  readonly r?: boolean;
  readonly w?: boolean;
  readonly x?: boolean;
  readonly u?: boolean;
  readonly g?: boolean;
  readonly a?: boolean;
  readonly d?: boolean;
}

/** Encode a PTE from its fields (V defaults to 1). */
export function encodePte(f: PteFields): PteWord {
  let p = (f.ppn & PPN_MASK) << 10n;
  if (f.v ?? true) p |= PTE_V;
  if (f.r) p |= PTE_R;
  if (f.w) p |= PTE_W;
  if (f.x) p |= PTE_X;
  if (f.u) p |= PTE_U;
  if (f.g) p |= PTE_G;
  if (f.a) p |= PTE_A;
  if (f.d) p |= PTE_D;
  return p;
}
