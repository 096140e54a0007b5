/**
 * The trap-routing matrix: instruction x mode x (mstatus.TVM, hstatus.VTVM) -> cause, and
 * cause x mode x (medeleg, hedeleg) -> landing mode. Every expected value is written out by
 * hand from the priv spec (hypervisor.adoc "Virtual-Instruction Exceptions" list under "Trap
 * Cause Codes", "Hypervisor Status Register", "Machine Status Registers", "Hypervisor
 * Memory-Management Fence Instructions", "Trap Entry"; machine.adoc "Virtualization Support in
 * mstatus"), not computed.
 */
import { describe, expect, test } from 'vitest';
import {
  type Delegation, type ExecMode, INSTRUCTION_BITS, type MatrixInstruction, type Mode, bits, instructionTrap,
  landingMode, trapValue,
} from './privilege.ts';

const MODES: readonly ExecMode[] = ['U', 'HS', 'VS', 'VU'];
/** (TVM, VTVM) in the order of the expectation arrays below. */
const CONTROLS = [
  { tvm: false, vtvm: false },
  { tvm: false, vtvm: true },
  { tvm: true, vtvm: false },
  { tvm: true, vtvm: true },
] as const;

type Row = readonly [number | null, number | null, number | null, number | null];
const _ = null;

/** Cause by mode, for (TVM,VTVM) = 00, 01, 10, 11. */
const EXPECTED: Readonly<Record<MatrixInstruction, Readonly<Record<ExecMode, Row>>>> = {
  // satp: a supervisor CSR. HS: TVM. VS (reaches vsatp): VTVM only. VU: always virtual.
  'satp-read': { U: [2, 2, 2, 2], HS: [_, _, 2, 2], VS: [_, 22, _, 22], VU: [22, 22, 22, 22] },
  'satp-write': { U: [2, 2, 2, 2], HS: [_, _, 2, 2], VS: [_, 22, _, 22], VU: [22, 22, 22, 22] },
  // hgatp: a hypervisor CSR. HS: TVM. V=1: always virtual.
  'hgatp-read': { U: [2, 2, 2, 2], HS: [_, _, 2, 2], VS: [22, 22, 22, 22], VU: [22, 22, 22, 22] },
  'hgatp-write': { U: [2, 2, 2, 2], HS: [_, _, 2, 2], VS: [22, 22, 22, 22], VU: [22, 22, 22, 22] },
  // vsatp by its own address: HS always (TVM has no effect on vsatp); V=1 always virtual.
  'vsatp-read': { U: [2, 2, 2, 2], HS: [_, _, _, _], VS: [22, 22, 22, 22], VU: [22, 22, 22, 22] },
  'vsatp-write': { U: [2, 2, 2, 2], HS: [_, _, _, _], VS: [22, 22, 22, 22], VU: [22, 22, 22, 22] },
  // SFENCE.VMA: as satp.
  'sfence.vma': { U: [2, 2, 2, 2], HS: [_, _, 2, 2], VS: [_, 22, _, 22], VU: [22, 22, 22, 22] },
  // HFENCE.VVMA: neither TVM nor VTVM; V=1 always virtual.
  'hfence.vvma': { U: [2, 2, 2, 2], HS: [_, _, _, _], VS: [22, 22, 22, 22], VU: [22, 22, 22, 22] },
  // HFENCE.GVMA: HS with TVM illegal; V=1 always virtual.
  'hfence.gvma': { U: [2, 2, 2, 2], HS: [_, _, 2, 2], VS: [22, 22, 22, 22], VU: [22, 22, 22, 22] },
  ecall: { U: [8, 8, 8, 8], HS: [9, 9, 9, 9], VS: [10, 10, 10, 10], VU: [8, 8, 8, 8] },
};

describe('instructionTrap: the full matrix', () => {
  for (const instr of Object.keys(EXPECTED) as MatrixInstruction[]) {
    for (const mode of MODES) {
      test(`${instr} in ${mode}`, () => {
        const got = CONTROLS.map((c) => instructionTrap(instr, mode, c));
        expect(got).toEqual([...EXPECTED[instr][mode]]);
      });
    }
  }
});

/**
 * Delegation settings and, for each, the landing mode of every (from, cause) pair the matrix
 * produces: 2 from U/HS, 22 from VS/VU, 8 from U/VU, 9 from HS, 10 from VS.
 */
const PAIRS = ['U:2', 'HS:2', 'VS:22', 'VU:22', 'U:8', 'VU:8', 'HS:9', 'VS:10'] as const;
type Pair = (typeof PAIRS)[number];
const ALL = (1n << 64n) - 1n;
const DELEGATIONS: readonly { name: string; d: Delegation; land: Readonly<Record<Pair, Mode>> }[] = [
  {
    name: 'nothing delegated',
    d: { medeleg: 0n, hedeleg: 0n },
    land: { 'U:2': 'M', 'HS:2': 'M', 'VS:22': 'M', 'VU:22': 'M', 'U:8': 'M', 'VU:8': 'M', 'HS:9': 'M', 'VS:10': 'M' },
  },
  {
    // Decision record 0001, NPT and TSP: 22 (and the page faults) to HS; no illegal-instruction or ecall delegation.
    name: 'NPT/TSP (medeleg 12,13,15,20-23; hedeleg 12,13,15)',
    d: { medeleg: bits(12, 13, 15, 20, 21, 22, 23), hedeleg: bits(12, 13, 15) },
    land: { 'U:2': 'M', 'HS:2': 'M', 'VS:22': 'HS', 'VU:22': 'HS', 'U:8': 'M', 'VU:8': 'M', 'HS:9': 'M', 'VS:10': 'M' },
  },
  {
    // Decision record 0001, SSP: cause 22 stays in M (the hardware-mode fast path).
    name: 'SSP (medeleg 12,13,15,20,21,23; hedeleg 0)',
    d: { medeleg: bits(12, 13, 15, 20, 21, 23), hedeleg: 0n },
    land: { 'U:2': 'M', 'HS:2': 'M', 'VS:22': 'M', 'VU:22': 'M', 'U:8': 'M', 'VU:8': 'M', 'HS:9': 'M', 'VS:10': 'M' },
  },
  {
    // A KVM-style host: illegal instruction and U/VS ecalls to HS, guest user ecalls and illegal instructions on to VS.
    name: 'hypervisor host (medeleg 2,8,10,12,13,15,20-23; hedeleg 2,8,12,13,15)',
    d: { medeleg: bits(2, 8, 10, 12, 13, 15, 20, 21, 22, 23), hedeleg: bits(2, 8, 12, 13, 15) },
    land: { 'U:2': 'HS', 'HS:2': 'HS', 'VS:22': 'HS', 'VU:22': 'HS', 'U:8': 'HS', 'VU:8': 'VS', 'HS:9': 'M', 'VS:10': 'HS' },
  },
  {
    // Every bit set: hedeleg 10 and 22 are read-only zero, so those stop in HS; a U or HS trap never goes to VS.
    name: 'all ones',
    d: { medeleg: ALL, hedeleg: ALL },
    land: { 'U:2': 'HS', 'HS:2': 'HS', 'VS:22': 'HS', 'VU:22': 'HS', 'U:8': 'HS', 'VU:8': 'VS', 'HS:9': 'HS', 'VS:10': 'HS' },
  },
];

describe('landing mode: cause x from x delegation', () => {
  for (const { name, d, land } of DELEGATIONS) {
    test(name, () => {
      for (const pair of PAIRS) {
        const [from, cause] = pair.split(':') as [ExecMode, string];
        expect(landingMode(Number(cause), from, d), pair).toBe(land[pair]);
      }
    });
  }
});

describe('the matrix end to end: every instruction, mode, TVM/VTVM and delegation', () => {
  test('each trap lands where its (from, cause) pair says, and no pair outside the table occurs', () => {
    let traps = 0;
    for (const { d, land } of DELEGATIONS) {
      for (const instr of Object.keys(EXPECTED) as MatrixInstruction[]) {
        for (const mode of MODES) {
          for (const c of CONTROLS) {
            const cause = instructionTrap(instr, mode, c);
            if (cause === null) continue;
            const pair = `${mode}:${cause}`;
            expect(PAIRS as readonly string[]).toContain(pair);
            expect(landingMode(cause, mode, d)).toBe(land[pair as Pair]);
            traps++;
          }
        }
      }
    }
    // Per delegation: 160 cells, of which 14 execute (HS: satp x2, sfence, hgatp x2, hfence.gvma with
    // TVM=0: 6 x 2; vsatp x2 and hfence.vvma: 3 x 4; VS: satp x2 and sfence with VTVM=0: 3 x 2) = 30.
    expect(traps).toBe(DELEGATIONS.length * (160 - 30));
  });
});

describe('trap value: a configuration, not a set', () => {
  test('illegal and virtual instruction traps write zero or the instruction bits, as configured', () => {
    expect(trapValue(2, INSTRUCTION_BITS['satp-write'], 'instruction-bits')).toBe(0x1805_1073n);
    expect(trapValue(22, INSTRUCTION_BITS['hfence.gvma'], 'instruction-bits')).toBe(0x6200_0073n);
    expect(trapValue(2, INSTRUCTION_BITS['satp-write'], 'zero')).toBe(0n);
    expect(trapValue(22, INSTRUCTION_BITS['sfence.vma'], 'zero')).toBe(0n);
  });

  test('environment calls write zero either way', () => {
    for (const config of ['zero', 'instruction-bits'] as const) {
      for (const cause of [8, 9, 10]) expect(trapValue(cause, INSTRUCTION_BITS.ecall, config)).toBe(0n);
    }
  });

  test('the encodings: CSR number in bits 31:20, SYSTEM opcode', () => {
    expect(INSTRUCTION_BITS['satp-read'] >> 20n).toBe(0x180n);
    expect(INSTRUCTION_BITS['vsatp-write'] >> 20n).toBe(0x280n);
    expect(INSTRUCTION_BITS['hgatp-read'] >> 20n).toBe(0x680n);
    for (const b of Object.values(INSTRUCTION_BITS)) expect(b & 0x7fn).toBe(0x73n);
  });
});
