/**
 * The three address spaces, as distinct types.
 *
 * Every address and PTE word is a `bigint` (decision record 0004): PTEs are 64-bit
 * and physical addresses 56-bit, both beyond 2^53. The brands make it a type error
 * to hand a guest-physical address to something that expects a host-physical one.
 */
declare const addressSpace: unique symbol;

/** A guest-virtual address: what the guest's loads, stores and fetches name. */
export type Gva = bigint & { readonly [addressSpace]: 'guest-virtual' };
/** A guest-physical address: what the guest believes is physical memory (its Sv39 walk's output). */
export type Gpa = bigint & { readonly [addressSpace]: 'guest-physical' };
/** A host-physical address: real memory, owned by the hypervisor. */
export type Hpa = bigint & { readonly [addressSpace]: 'host-physical' };

export const gva = (x: bigint): Gva => BigInt.asUintN(64, x) as Gva;
export const gpa = (x: bigint): Gpa => x as Gpa;
export const hpa = (x: bigint): Hpa => x as Hpa;

export const PAGE_SHIFT = 12n;
export const PTE_SIZE = 8n;

/** Sv39 has three levels; level 2 is the root (priv spec, Sv39: LEVELS = 3). */
export type Level = 0 | 1 | 2;
export const LEVELS: readonly Level[] = [2, 1, 0];

export const hex = (x: bigint): string => `0x${x.toString(16)}`;

/**
 * Sv39 canonical check (priv spec, Sv39 "Addressing and Memory Protection"):
 * bits 63..39 of a virtual address must all equal bit 38.
 */
export function isCanonicalSv39(va: Gva): boolean {
  const upper = va >> 38n;
  return upper === 0n || upper === (1n << 26n) - 1n;
}

/** va.vpn[i]: the 9-bit index used at level i (Sv39 virtual-address format). */
export function vpnIndex(va: Gva, level: Level): bigint {
  return (va >> (PAGE_SHIFT + 9n * BigInt(level))) & 0x1ffn;
}

/**
 * The VA prefix that identifies a level-`level` entry: vpn[2..level]. Two virtual
 * addresses share the entry an address-translation cache holds for a step-2 read
 * at that level iff they share this prefix.
 */
export function vpnPrefix(va: Gva, level: Level): bigint {
  return (va >> (PAGE_SHIFT + 9n * BigInt(level))) & ((1n << (9n * BigInt(3 - level))) - 1n);
}

/** The virtual page number of `va` (bits 38..12; the sign-extension bits dropped). */
export const vpnOf = (va: Gva): bigint => (va & ((1n << 39n) - 1n)) >> PAGE_SHIFT;
