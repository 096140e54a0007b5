/**
 * Trap-routing scenarios: from each mode (U, S, VU, VS), satp and hgatp accesses,
 * SFENCE.VMA, HFENCE.VVMA/GVMA and ECALL under mstatus.TVM, hstatus.VTVM and the
 * delegation registers; checked against the reference's cause, landing mode and
 * trap value. Translation is Bare throughout, so nothing but the instruction traps.
 */
import fc from 'fast-check';
import {
  type ExecMode, type InstructionTvalConfig, type MatrixInstruction, type Mode, INSTRUCTION_BITS, bits, instructionTrap, landingMode, trapValue,
} from '../spec/privilege.ts';
import { hex } from '../spec/address.ts';
import type { DeviationId } from './deviations.ts';
import { OP, type LowerMode, type OpKind, type OpResult, type Scenario } from './protocol.ts';

/**
 * The instruction bits of the harness's stubs (conformance/harness/harness.S):
 * what QEMU writes to tval for an illegal- or virtual-instruction trap. Reads
 * go to t0, writes come from a0, fences name x0.
 */
const HARNESS_BITS: Readonly<Record<MatrixInstruction, bigint>> = {
  ...INSTRUCTION_BITS,
  'satp-read': 0x1800_22f3n, // csrr t0, satp
  'hgatp-read': 0x6800_22f3n, // csrr t0, hgatp
};

/** The matrix instructions the harness has stubs for, with their op kinds. */
const INSTRUCTIONS: readonly (readonly [MatrixInstruction, OpKind])[] = [
  ['satp-write', OP.csrwSatp], ['satp-read', OP.csrrSatp], ['hgatp-write', OP.csrwHgatp], ['hgatp-read', OP.csrrHgatp],
  ['sfence.vma', OP.sfenceAll], ['hfence.vvma', OP.hfenceVvma], ['hfence.gvma', OP.hfenceGvma], ['ecall', OP.ecall],
];

/** Delegation settings: none, nested paging's, SSP's, a KVM-style host, and every relevant cause. */
const DELEGATIONS = [
  { medeleg: 0n, hedeleg: 0n },
  { medeleg: bits(12, 13, 15, 20, 21, 22, 23), hedeleg: bits(12, 13, 15) },
  { medeleg: bits(12, 13, 15, 20, 21, 23), hedeleg: 0n },
  { medeleg: bits(2, 8, 9, 10, 12, 13, 15, 20, 21, 22, 23), hedeleg: bits(2, 8, 12, 13, 15) },
  { medeleg: bits(2, 8, 9, 10, 22), hedeleg: bits(2, 8, 9, 10, 22) },
];

export interface RoutingScenario {
  readonly category: 'routing';
  readonly scenario: Scenario;
  readonly mode: ExecMode;
  readonly instructions: readonly MatrixInstruction[];
  readonly tvm: boolean;
  readonly vtvm: boolean;
  readonly delegation: { readonly medeleg: bigint; readonly hedeleg: bigint };
}

const execMode = (m: LowerMode): ExecMode => (m === 'S' ? 'HS' : m);

export function routingScenarioArb(): fc.Arbitrary<RoutingScenario> {
  return fc.record({
    mode: fc.constantFrom<LowerMode>('U', 'S', 'VU', 'VS'),
    tvm: fc.boolean(),
    vtvm: fc.boolean(),
    delegation: fc.constantFrom(...DELEGATIONS),
    picks: fc.array(fc.nat(INSTRUCTIONS.length - 1), { minLength: 1, maxLength: 4 }),
  }).map(({ mode, tvm, vtvm, delegation, picks }) => {
    const chosen = picks.map((i) => INSTRUCTIONS[i] as readonly [MatrixInstruction, OpKind]);
    return {
      category: 'routing' as const,
      mode: execMode(mode),
      instructions: chosen.map(([m]) => m),
      tvm, vtvm, delegation,
      scenario: {
        stores: [], satp: 0n, vsatp: 0n, hgatp: 0n,
        mstatusSet: tvm ? 1n << 20n : 0n, vsstatusSet: 0n, hstatusSet: vtvm ? 1n << 20n : 0n,
        medeleg: delegation.medeleg, hedeleg: delegation.hedeleg, mode,
        // csrw writes 0 (Bare): the translation the stubs run under never changes.
        ops: chosen.map(([, kind]) => ({ kind, a: 0n, b: 0n })),
      },
    };
  });
}

export interface RoutingVerdict {
  readonly op: number;
  readonly message: string;
  readonly explainedBy: readonly DeviationId[];
}

/**
 * QEMU 7.2's cause for `instr` in `mode`: the spec's, with the documented
 * deviations applied, and which deviations changed it.
 */
function qemuCauseOf(instr: MatrixInstruction, mode: ExecMode, sc: RoutingScenario): { cause: number | null; by: DeviationId[] } {
  const spec = instructionTrap(instr, mode, { tvm: sc.tvm, vtvm: sc.vtvm });
  const satp = instr === 'satp-read' || instr === 'satp-write';
  const supervisor = satp || instr === 'sfence.vma' || instr === 'hfence.vvma' || instr === 'hfence.gvma';
  if (mode === 'VU' && supervisor) return { cause: 2, by: ['vuSupervisorIllegal'] };
  if (mode === 'VS' && (satp || instr === 'sfence.vma') && sc.tvm) return { cause: 2, by: ['vsHonoursTvm'] };
  if (mode === 'VS' && satp && sc.vtvm) return { cause: null, by: ['vsSatpVtvm'] };
  if (mode === 'HS' && (instr === 'hgatp-read' || instr === 'hgatp-write') && sc.tvm) return { cause: null, by: ['hgatpIgnoresTvm'] };
  return { cause: spec, by: [] };
}

/** Where a trap of `cause` lands and what cause the handler reads there, under QEMU 7.2. */
function qemuLanding(cause: number, mode: ExecMode, sc: RoutingScenario): { where: Mode; reported: number; by: DeviationId[] } {
  const where = landingMode(cause, mode, sc.delegation);
  if (where === 'VS' && cause === 2) return { where, reported: 1, by: ['vsDelegatedCauseMinusOne'] };
  return { where, reported: cause, by: [] };
}

export function checkRouting(sc: RoutingScenario, results: readonly OpResult[], tvalConfig: InstructionTvalConfig): RoutingVerdict[] {
  const out: RoutingVerdict[] = [];
  sc.instructions.forEach((instr, i) => {
    const r = results[i];
    if (r === undefined) {
      out.push({ op: i, message: 'QEMU reported no result', explainedBy: [] });
      return;
    }
    const cause = instructionTrap(instr, sc.mode, { tvm: sc.tvm, vtvm: sc.vtvm });
    const qemuCause = r.where === 'ok' ? null : r.cause;
    const expectedWhere = cause === null ? 'ok' : landingMode(cause, sc.mode, sc.delegation);
    const expectedTval = cause === null ? 0n : trapValue(cause, HARNESS_BITS[instr], tvalConfig);
    const agrees = r.where === expectedWhere && (cause === null || (qemuCause === BigInt(cause) && r.tval === expectedTval));
    if (agrees) return;
    const expected = cause === null ? 'executes' : `cause ${cause} to ${expectedWhere}, tval ${hex(expectedTval)}`;
    const got = r.where === 'ok' ? 'executes' : `cause ${r.cause} to ${r.where}, tval ${hex(r.tval)}`;
    // Does QEMU 7.2, as its documented deviations describe it, give exactly this?
    const q = qemuCauseOf(instr, sc.mode, sc);
    const landing = q.cause === null ? null : qemuLanding(q.cause, sc.mode, sc);
    const predicted = landing === null
      ? r.where === 'ok'
      : r.where === landing.where && r.cause === BigInt(landing.reported) && r.tval === trapValue(q.cause ?? 0, HARNESS_BITS[instr], tvalConfig);
    const by = predicted ? [...q.by, ...(landing?.by ?? [])] : [];
    out.push({
      op: i,
      message: `${instr} in ${sc.mode}-mode (TVM=${Number(sc.tvm)}, VTVM=${Number(sc.vtvm)}, medeleg=${hex(sc.delegation.medeleg)}, hedeleg=${hex(sc.delegation.hedeleg)}): the spec says ${expected}, QEMU ${got}`,
      explainedBy: by,
    });
  });
  return out;
}

