/**
 * The small world random guest programs live in: a few page-table frames, a few
 * data frames, virtual addresses that share upper-level indices, and the boot
 * page tables. Small pools make collisions (two VAs through one table, one table
 * in two address spaces, a freed table reused) happen often.
 */
import { type Gpa, type Gva, PAGE_SHIFT, gpa, gva } from '../spec/address.ts';
import { type GuestConfig, defaultGuestConfig } from '../spec/config.ts';
import { type Memory, emptyMemory, writeWord } from '../spec/memory.ts';
import { encodePte } from '../spec/pte.ts';

export const guestConfig: GuestConfig = defaultGuestConfig;

/**
 * How the guest's hart treats A and D (decision 0013): Svade, where A=0 (or a store
 * with D=0) is a page fault the guest handles, or Svadu (henvcfg.ADUE=1), where the
 * hart sets them itself and the guest reads them to age pages and find dirty ones.
 */
export type AdMode = 'svade' | 'svadu';
export const AD_MODES: readonly AdMode[] = ['svade', 'svadu'];

/** The guest configuration of a run under `ad`. */
export const configFor = (ad: AdMode): GuestConfig => (ad === 'svade' ? guestConfig : SVADU_CONFIG);
const SVADU_CONFIG: GuestConfig = { ...guestConfig, svade: false };

/** Guest pages the guest uses as page tables (and may free and reuse). */
export const PT_FRAMES: readonly bigint[] = [0x80010n, 0x80011n, 0x80012n, 0x80013n, 0x80014n, 0x80015n];
/** Guest pages holding data, inside one 2 MiB region (0x8040_0000) that superpage leaves can cover. */
export const DATA_FRAMES: readonly bigint[] = [0x80400n, 0x80401n, 0x80402n, 0x80403n];
export const ALL_FRAMES: readonly bigint[] = [...PT_FRAMES, ...DATA_FRAMES];
/** Frames the generator writes into 2 MiB and 1 GiB leaves (aligned or not: a misaligned superpage is a case too). */
export const SUPERPAGE_2M_FRAMES: readonly bigint[] = [0x80400n, 0x80401n];
export const SUPERPAGE_1G_FRAMES: readonly bigint[] = [0x80000n, 0x80400n];
/** Every frame the generator can write into a leaf that maps RAM. */
export const LEAF_FRAMES: readonly bigint[] = [...new Set([...ALL_FRAMES, ...SUPERPAGE_2M_FRAMES, ...SUPERPAGE_1G_FRAMES])];

const va = (vpn2: bigint, vpn1: bigint, vpn0: bigint): Gva => {
  const raw = (vpn2 << 30n) | (vpn1 << 21n) | (vpn0 << PAGE_SHIFT);
  return gva(vpn2 >= 256n ? raw | ~((1n << 39n) - 1n) : raw);
};

/** Virtual pages: vpn[2] in {1,2}, vpn[1] in {0,1}, vpn[0] in {1,2}, and one high-half (kernel) page. */
export const VAS: readonly Gva[] = [
  va(1n, 0n, 1n), va(1n, 0n, 2n), va(1n, 1n, 1n), va(1n, 1n, 2n),
  va(2n, 0n, 1n), va(2n, 0n, 2n), va(2n, 1n, 1n), va(2n, 1n, 2n),
  va(256n, 0n, 1n),
];
/** A non-canonical address: translation faults before any walk. */
export const NON_CANONICAL: Gva = gva(0x0000_4000_0000_1000n);
/** Word offsets inside a page that accesses use most often: few, so that two accesses meet on one word. */
export const OFFSETS: readonly bigint[] = [0n, 8n, 0xff8n];
/** PTE slots the pool VAs index at some level. */
export const SLOTS: readonly bigint[] = [0n, 1n, 2n, 256n];
/** Words in a page: a page-table page has this many PTE slots, and an access may use any of them. */
export const PAGE_WORDS = 512;
export const ASIDS: readonly number[] = [1, 2, 3];

export const pteAddress = (frame: bigint, slot: bigint): Gpa => gpa((frame << PAGE_SHIFT) + slot * 8n);

const pointer = (frame: bigint): bigint => encodePte({ ppn: frame });
const leaf = (frame: bigint, f: { u?: boolean; x?: boolean } = {}): bigint =>
  encodePte({ ppn: frame, r: true, w: true, x: f.x ?? false, u: f.u ?? false, a: true, d: true });

/** The two address spaces the guest boots with; they share a level-0 table. */
export const ROOTS: readonly bigint[] = [0x80010n, 0x80013n, 0x80011n];
export const BOOT_ASID_OF_ROOT: readonly number[] = [1, 2, 3];

export function bootMemory(): Memory {
  const [p0, p1, p2, p3, p4, p5] = PT_FRAMES as [bigint, bigint, bigint, bigint, bigint, bigint];
  const [d0, d1, d2, d3] = DATA_FRAMES as [bigint, bigint, bigint, bigint];
  const stores: [Gpa, bigint][] = [
    // Address space 0: root p0 -> p1 (both vpn[2]) -> p2 (both vpn[1]) -> d0, d1.
    [pteAddress(p0, 1n), pointer(p1)], [pteAddress(p0, 2n), pointer(p1)], [pteAddress(p0, 256n), pointer(p1)],
    [pteAddress(p1, 0n), pointer(p2)], [pteAddress(p1, 1n), pointer(p2)],
    [pteAddress(p2, 1n), leaf(d0)], [pteAddress(p2, 2n), leaf(d1, { u: true, x: true })],
    // Address space 1: root p3 -> p4 -> p5 (vpn[1]=0) or p2 (vpn[1]=1, shared with address space 0).
    [pteAddress(p3, 1n), pointer(p4)], [pteAddress(p3, 2n), pointer(p4)],
    [pteAddress(p4, 0n), pointer(p5)], [pteAddress(p4, 1n), pointer(p2)],
    [pteAddress(p5, 1n), leaf(d2, { u: true })], [pteAddress(p5, 2n), leaf(d3, { x: true })],
  ];
  return stores.reduce((m, [a, v]) => writeWord(m, a, v), emptyMemory);
}
