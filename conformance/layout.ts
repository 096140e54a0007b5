/**
 * Where scenarios put things in the harness's memory (PROTOCOL.md), and the
 * identity mappings of the harness's two code regions that every scenario's
 * address space must contain.
 */
import { encodePte } from '../spec/pte.ts';
import type { GuestConfig } from '../spec/config.ts';

/** QEMU virt with -m 256M: RAM 0x8000_0000 .. 0x8fff_ffff. */
export const qemuGuestConfig: GuestConfig = { ramBasePage: 0x80000n, ramPages: 0x10000n, asidLen: 16, svade: false, walksInFlight: false };

/** The harness's code regions: supervisor (U=0) and user (U=1), 2 MiB each. */
export const SUPERVISOR_CODE_PAGE = 0x80000n;
export const USER_CODE_PAGE = 0x80200n;
/** The level-1 table that maps them, outside every scenario superpage. */
export const CODE_L1 = 0x80700n;
/** VA 0x8000_0000 has vpn[2] = 2: every scenario root points slot 2 at CODE_L1. */
export const CODE_ROOT_SLOT = 2n;

/** Scenario page-table frames (first two are roots) and data frames. */
export const PT_FRAMES: readonly bigint[] = [0x80410n, 0x80411n, 0x80412n, 0x80413n, 0x80414n, 0x80415n];
export const ROOT_FRAMES: readonly bigint[] = [0x80410n, 0x80413n];
export const DATA_FRAMES: readonly bigint[] = [0x80401n, 0x80402n, 0x80403n, 0x80404n];
/**
 * Pages a leaf can reach besides the scenario frames: a 4 KiB leaf on a 2 MiB
 * superpage's base, and the pages a 2 MiB leaf at 0x8060_0000 maps for the pool's
 * addresses (vpn[0] of 1 or 2). They hold `ebreak` and zeroes too.
 */
export const OTHER_REACHABLE: readonly bigint[] = [0x80400n, 0x80600n, 0x80601n, 0x80602n];
/** Physical pages beyond RAM with no device behind them on QEMU virt: PMA access faults. */
export const OUTSIDE_RAM: readonly bigint[] = [0x90000n, 0xa1234n, 0xfff00n];

/** Offsets loads and stores use; fetches use FETCH_OFFSET, where every scenario frame holds `ebreak`. */
export const DATA_OFFSETS: readonly bigint[] = [0n, 8n, 0xff8n];
export const FETCH_OFFSET = 0x800n;
export const EBREAK = 0x00100073n;

/** The stores that map the two code regions at VA = PA from a scenario root. */
export function codeMappingStores(root: bigint): [bigint, bigint][] {
  return [
    [(root << 12n) + CODE_ROOT_SLOT * 8n, encodePte({ ppn: CODE_L1 })],
    ...codeL1Stores(),
  ];
}

export function codeL1Stores(): [bigint, bigint][] {
  return [
    [CODE_L1 << 12n, encodePte({ ppn: SUPERVISOR_CODE_PAGE, r: true, w: true, x: true, a: true, d: true })],
    [(CODE_L1 << 12n) + 8n, encodePte({ ppn: USER_CODE_PAGE, r: true, w: true, x: true, u: true, a: true, d: true })],
  ];
}

/** A distinct, even (so never a valid PTE) word for each data-frame location: a load's value names the address it read. */
export const dataTag = (addr: bigint): bigint => 0xd474_0000_0000_0000n | (addr << 1n);
