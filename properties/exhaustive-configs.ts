/**
 * The small configurations the exhaustive search runs over: the guest's boot
 * memory (properties/pools.ts: two address spaces sharing a level-0 table), the
 * virtual pages the reference is exact on, and the alphabet, every event a
 * program of the search may take at each step. Every program up to the depth is
 * a word over the alphabet.
 *
 * The alphabet covers each class of event: accesses (loads and stores, on two
 * pages that share their upper levels), page-table stores (a leaf made invalid,
 * a leaf retargeted, a pointer retargeted), the satp writes of two address spaces
 * and of one root under another's ASID, the four SFENCE.VMA forms, one host remap
 * and one host write-protect.
 */
import { type Gva, gva } from '../spec/address.ts';
import type { MachineEvent } from '../model/machine.ts';
import { encodePte } from '../spec/pte.ts';
import { type AdMode, DATA_FRAMES, PT_FRAMES, pteAddress } from './pools.ts';

export interface ExhaustiveConfig {
  readonly name: string;
  /** One line on what it covers. */
  readonly description: string;
  /** The virtual addresses the reference is exact on: every address an access of the alphabet uses. */
  readonly universe: readonly Gva[];
  readonly alphabet: readonly MachineEvent[];
  /** Svade (the default) or Svadu guests. */
  readonly ad?: AdMode;
}

const [P0, P1, P2, P3, , P5] = PT_FRAMES as [bigint, bigint, bigint, bigint, bigint, bigint];
const [D0, D1] = DATA_FRAMES as [bigint, bigint];

/** vpn = (2, 0, 1): address space 0 (root P0) maps it through P1[0] and P2[1] to D0; address space 1 (root P3) through P4[0] and P5[1] to D2. */
const VA_A: Gva = gva(0x8000_1000n);
/** vpn = (2, 1, 1): through P1[1] (address space 0) or P4[1] (address space 1) to the same level-0 table P2, and its slot 1 (D0). */
const VA_B: Gva = gva(0x8020_1000n);

const leaf = (frame: bigint, w: boolean): bigint => encodePte({ ppn: frame, r: true, w, a: true, d: true });

const ACCESSES: readonly MachineEvent[] = [
  { kind: 'access', va: VA_A, access: 'load', priv: 'S', value: 0n },
  { kind: 'access', va: VA_A, access: 'store', priv: 'S', value: 0x5an },
  { kind: 'access', va: VA_B, access: 'load', priv: 'S', value: 0n },
  { kind: 'access', va: VA_B, access: 'store', priv: 'S', value: 0x5bn },
];

const PT_STORES: readonly MachineEvent[] = [
  // The leaf both pages end at in address space 0 (and VA_B in address space 1): invalid, retargeted, read-only.
  { kind: 'ptStore', addr: pteAddress(P2, 1n), value: 0n },
  { kind: 'ptStore', addr: pteAddress(P2, 1n), value: leaf(D1, true) },
  { kind: 'ptStore', addr: pteAddress(P2, 1n), value: leaf(D0, false) },
  // VA_A's level-1 pointer in address space 0, retargeted to address space 1's level-0 table.
  { kind: 'ptStore', addr: pteAddress(P1, 0n), value: encodePte({ ppn: P5 }) },
];

const SATPS: readonly MachineEvent[] = [
  { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: P0 } },
  { kind: 'satp', satp: { mode: 'sv39', asid: 2, rootPpn: P3 } },
  // Address space 1's root under address space 0's ASID: a root switch without an ASID switch.
  { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: P3 } },
];

const FENCES: readonly MachineEvent[] = [
  { kind: 'sfence', rs1: null, rs2: null },
  { kind: 'sfence', rs1: VA_A, rs2: null },
  { kind: 'sfence', rs1: null, rs2: 1 },
  { kind: 'sfence', rs1: VA_A, rs2: 1 },
];

const HOST: readonly MachineEvent[] = [
  { kind: 'hostRemap', gpn: D0 },
  { kind: 'hostWriteProtect', gpn: D0 },
];

/** A leaf as a Svadu guest leaves it after aging (A and D clear) or after writeback (D clear). */
const clean = (frame: bigint, accessed: boolean): bigint => encodePte({ ppn: frame, r: true, w: true, a: accessed });

export const CONFIGS: readonly ExhaustiveConfig[] = [
  {
    name: 'default',
    description: 'two pages sharing a level-0 table; a load and a store of one, a load of the other; their leaf made invalid or retargeted; two address spaces; the four fence forms; a host remap and a host write-protect (13 events)',
    universe: [VA_A, VA_B],
    alphabet: [ACCESSES[0], ACCESSES[1], ACCESSES[2], PT_STORES[0], PT_STORES[1], SATPS[0], SATPS[1], ...FENCES, ...HOST] as MachineEvent[],
  },
  {
    name: 'wide',
    description: 'default, and a store to the second page, the leaf made read-only, the first page\'s level-1 pointer retargeted, and one address space\'s root under the other\'s ASID (17 events)',
    universe: [VA_A, VA_B],
    alphabet: [...ACCESSES, ...PT_STORES, ...SATPS, ...FENCES, ...HOST],
  },
  {
    name: 'svadu',
    description: 'a Svadu guest (the hart sets A and D): two pages sharing a level-0 table, a load and a store of one, a load of the other; their leaf aged (A and D clear), written back (D clear) or made invalid; two address spaces; three fence forms (x0, the page, ASID 1); dirty logging of a data page and of the level-0 table (13 events)',
    universe: [VA_A, VA_B],
    alphabet: [
      ACCESSES[0], ACCESSES[1], ACCESSES[2],
      { kind: 'ptStore', addr: pteAddress(P2, 1n), value: clean(D0, false) },
      { kind: 'ptStore', addr: pteAddress(P2, 1n), value: clean(D0, true) },
      PT_STORES[0], SATPS[0], SATPS[1], ...FENCES.slice(0, 2), FENCES[2], HOST[1],
      { kind: 'hostWriteProtect', gpn: P2 },
    ] as MachineEvent[],
    ad: 'svadu',
  },
  {
    name: 'harts',
    description: 'for several harts (--harts 2 to 4; properties/exhaustive-harts.ts puts the per-hart events on every hart): two pages sharing a level-0 table, a load and a store of one, a load of the other; their leaf made invalid or retargeted; two address spaces and one root under the other\'s ASID; the full and the page fence; a host remap (11 events)',
    universe: [VA_A, VA_B],
    alphabet: [ACCESSES[0], ACCESSES[1], ACCESSES[2], PT_STORES[0], PT_STORES[1], ...SATPS, FENCES[0], FENCES[1], HOST[0]] as MachineEvent[],
  },
  {
    name: 'small',
    description: 'one page: a load and a store; its leaf made invalid or retargeted; two address spaces; the full and the page fence; a host remap (9 events)',
    universe: [VA_A],
    alphabet: [ACCESSES[0], ACCESSES[1], PT_STORES[0], PT_STORES[1], SATPS[0], SATPS[1], FENCES[0], FENCES[1], HOST[0]] as MachineEvent[],
  },
];

export const findConfig = (name: string): ExhaustiveConfig | undefined => CONFIGS.find((c) => c.name === name);
