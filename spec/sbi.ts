/**
 * The SBI calls a guest with several harts makes to fence other harts' address
 * translation caches: the RFENCE extension's remote SFENCE.VMA (SBI spec,
 * "RFENCE Extension (EID #0x52464E43 "RFNC")", FID #1 `sbi_remote_sfence_vma`
 * and FID #2 `sbi_remote_sfence_vma_asid`), with the hart mask of the SBI
 * spec's "Binary Encoding", "Hart list parameter" (docs/decisions/0014).
 *
 * SFENCE.VMA orders only the local hart's implicit references (priv spec,
 * "Supervisor Memory-Management Fence Instruction"), so a guest that changes a
 * page table another hart may have cached asks the SEE (here the hypervisor) to
 * run SFENCE.VMA on the other harts; the call returns once they have.
 *
 * Every argument is an XLEN-bit (64-bit) register value, held as an unsigned
 * bigint: -1 is 2^64-1.
 */
import { match } from 'ts-pattern';
import { type Gpa, type Gva, PAGE_SHIFT, gva } from './address.ts';
import { readWord } from './memory.ts';
import { type CachedPte, type ReferenceState, fenceRemoves, referenceStep, removeEntries } from './reference.ts';

/** SBI spec, "RFENCE Extension": the extension ID "RFNC" and the function IDs modelled. */
export const SBI_EXT_RFENCE = 0x52464e43;
export const SBI_FID_REMOTE_SFENCE_VMA = 1;
export const SBI_FID_REMOTE_SFENCE_VMA_ASID = 2;

/** SBI spec, "Binary Encoding", "Standard SBI Errors": the two these calls return here. */
export const SBI_SUCCESS = 0;
export const SBI_ERR_INVALID_PARAM = -3;
export type SbiError = typeof SBI_SUCCESS | typeof SBI_ERR_INVALID_PARAM;

/** `struct sbiret` (SBI spec, "Binary Encoding"); these functions return no value, so it is 0. */
export interface SbiRet {
  readonly error: SbiError;
  readonly value: 0n;
}

/** The arguments every remote SFENCE.VMA takes: the hart list, then the range (a0..a3). */
interface RemoteFenceArgs {
  /** `unsigned long hart_mask`: bit i names hart hart_mask_base + i. */
  readonly hartMask: bigint;
  /** `unsigned long hart_mask_base`; -1 (2^64-1) names every hart, whatever hart_mask is. */
  readonly hartMaskBase: bigint;
  readonly startAddr: bigint;
  readonly size: bigint;
}

/** An SBI call a guest hart makes (the hart is named by the step that carries it, spec/harts.ts). */
export type SbiCall =
  /** FID #1: SFENCE.VMA over the range, for every address space (as rs2 = x0). */
  | ({ readonly kind: 'remoteSfenceVma' } & RemoteFenceArgs)
  /** FID #2: SFENCE.VMA over the range, for `asid` only (as rs2 = asid: global entries are spared). */
  | ({ readonly kind: 'remoteSfenceVmaAsid'; readonly asid: bigint } & RemoteFenceArgs);

const XLEN = 64n;
const ONES = (1n << XLEN) - 1n;
/** A register's value: XLEN bits, unsigned. */
const reg = (x: bigint): bigint => BigInt.asUintN(Number(XLEN), x);

/** The harts a call names, or the error the SBI implementation returns instead of fencing any. */
export type HartSelection =
  | { readonly kind: 'harts'; readonly harts: readonly number[] }
  | { readonly kind: 'invalid-param' };

/**
 * The harts `hart_mask` and `hart_mask_base` name on a machine whose hartids are
 * 0 .. harts-1 (SBI spec, "Binary Encoding", "Hart list parameter"): base -1 names
 * every hart and hart_mask is ignored; otherwise bit i of hart_mask names hart
 * base + i. The "Hart Mask Errors" table: if hart_mask_base or any hartid the mask
 * names is not a valid hart, the call returns SBI_ERR_INVALID_PARAM, and then no
 * hart is fenced (decision record 0014: the check comes before any fence).
 */
export function selectHarts(hartMask: bigint, hartMaskBase: bigint, harts: number): HartSelection {
  const all = Array.from({ length: harts }, (_, i) => i);
  const base = reg(hartMaskBase);
  if (base === ONES) return { kind: 'harts', harts: all };
  if (base >= BigInt(harts)) return { kind: 'invalid-param' };
  const mask = reg(hartMask);
  const named: number[] = [];
  for (let i = 0n; i < XLEN; i++) {
    if (((mask >> i) & 1n) === 0n) continue;
    const id = base + i;
    if (id >= BigInt(harts)) return { kind: 'invalid-param' };
    named.push(Number(id));
  }
  return { kind: 'harts', harts: named };
}

/** An inclusive interval of XLEN-bit virtual addresses. */
export interface AddressInterval {
  readonly lo: bigint;
  readonly hi: bigint;
}

/**
 * What a call's `start_addr` and `size` cover (SBI spec, "RFENCE Extension"):
 * - the entire address space if start_addr and size are both 0, or size is
 *   2^XLEN-1: then the call is SFENCE.VMA with rs1 = x0;
 * - otherwise the addresses start_addr .. start_addr+size-1 ("covering the range of
 *   virtual addresses between start_addr and start_addr + size"), taken modulo
 *   2^XLEN as the per-page SFENCE.VMA loop of an SBI implementation computes them
 *   (so a range may wrap from the top of the address space to 0, which is
 *   contiguous in Sv39's sign-extended addresses), and empty when size is 0
 *   (decision record 0014). Each address is SFENCE.VMA with rs1 = that address.
 */
export type FenceRange =
  | { readonly kind: 'all' }
  | { readonly kind: 'addresses'; readonly intervals: readonly AddressInterval[] };

export function fenceRange(startAddr: bigint, size: bigint): FenceRange {
  const start = reg(startAddr);
  const n = reg(size);
  if ((start === 0n && n === 0n) || n === ONES) return { kind: 'all' };
  if (n === 0n) return { kind: 'addresses', intervals: [] };
  const end = start + n - 1n;
  if (end <= ONES) return { kind: 'addresses', intervals: [{ lo: start, hi: end }] };
  return { kind: 'addresses', intervals: [{ lo: start, hi: ONES }, { lo: 0n, hi: end - (1n << XLEN) }] };
}

/**
 * The virtual addresses a cached entry covers: every canonical address whose
 * VA prefix at the entry's level is the entry's (a level-i entry covers
 * 2^(12+9i) bytes; Sv39, "Addressing and Memory Protection": bits 63..39 equal
 * bit 38). An rs1 = va fence reaches the entry exactly for these addresses.
 */
export function entrySpan(e: Pick<CachedPte, 'level' | 'prefix'>): AddressInterval {
  const shift = PAGE_SHIFT + 9n * BigInt(e.level);
  const low39 = e.prefix << shift;
  const lo = (low39 >> 38n) & 1n ? low39 | (ONES ^ ((1n << 39n) - 1n)) : low39;
  return { lo, hi: lo + (1n << shift) - 1n };
}

/** An address of the range the entry covers, or null when the range touches none of them. */
export function addressTouching(e: Pick<CachedPte, 'level' | 'prefix'>, intervals: readonly AddressInterval[]): Gva | null {
  const span = entrySpan(e);
  for (const r of intervals) {
    const lo = r.lo > span.lo ? r.lo : span.lo;
    const hi = r.hi < span.hi ? r.hi : span.hi;
    if (lo <= hi) return gva(lo);
  }
  return null;
}

/**
 * One hart's part of a remote fence: SFENCE.VMA over `range`, of every address
 * space (`asid` null, FID #1) or of `asid` alone (FID #2, as rs2 = asid: global
 * entries are spared; priv spec, "Supervisor Memory-Management Fence
 * Instruction"). The whole address space is SFENCE.VMA with rs1 = x0. A range is
 * "one or more SFENCE.VMA instructions, covering the range": SFENCE.VMA with
 * rs1 = va for every va in it, so an entry goes when some address of the range
 * lies in what it covers and the rs1 = va rule removes it there (decision record
 * 0006, choice 2: leaves, and entries failing step 3 whose PTE is not now a valid
 * pointer; valid pointers stay). That rule depends on va only through the
 * entry's prefix, so one address of the range inside the entry decides it: the
 * range is never walked page by page. Non-canonical addresses in the range fence
 * nothing (an SFENCE.VMA whose rs1 is not a valid virtual address has no effect);
 * no entry covers one. A range fence drops no in-flight root (as rs1 = va).
 * ASID bits above ASIDLEN are ignored, as SFENCE.VMA's rs2.
 */
export function rangeSfence(s: ReferenceState, range: FenceRange, asid: bigint | null): ReferenceState {
  const rs2 = asid === null ? null : Number(BigInt.asUintN(s.cfg.asidLen, asid));
  return match(range)
    .with({ kind: 'all' }, () => referenceStep(s, { kind: 'sfence', rs1: null, rs2 }))
    .with({ kind: 'addresses' }, ({ intervals }) => {
      const memAt = (a: Gpa) => readWord(s.mem, a);
      return removeEntries(s, (e) => {
        const va = addressTouching(e, intervals);
        return va !== null && fenceRemoves(e, va, rs2, memAt);
      });
    })
    .exhaustive();
}

/** The ASID a call fences, or null for every address space. */
export function callAsid(call: SbiCall): bigint | null {
  return match(call)
    .with({ kind: 'remoteSfenceVma' }, () => null)
    .with({ kind: 'remoteSfenceVmaAsid' }, (c) => c.asid)
    .exhaustive();
}

export function describeSbiCall(call: SbiCall): string {
  const h = (x: bigint) => `0x${reg(x).toString(16)}`;
  const args = `${h(call.hartMask)}, ${h(call.hartMaskBase)}, ${h(call.startAddr)}, ${h(call.size)}`;
  return match(call)
    .with({ kind: 'remoteSfenceVma' }, () => `sbi_remote_sfence_vma(${args})`)
    .with({ kind: 'remoteSfenceVmaAsid' }, (c) => `sbi_remote_sfence_vma_asid(${args}, ${h(c.asid)})`)
    .exhaustive();
}
