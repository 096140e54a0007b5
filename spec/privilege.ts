/**
 * Privilege transitions, as far as the three models use them: where a trap goes
 * and what it costs. (priv spec, "Machine Trap Delegation Registers"; H extension,
 * "Hypervisor Trap Delegation Registers" and "Hypervisor Status Register".)
 */
import { CAUSE } from './walk.ts';

/** M, HS (the hypervisor, V=0 S-mode), VS and VU (the guest kernel and its user mode, V=1). */
export type Mode = 'M' | 'HS' | 'VS' | 'VU';

/**
 * What a trap costs the guest: nothing beyond its own handler (delivered to VS),
 * an M-mode trap (SSP's hardware-mode fast path), or a VM exit to the hypervisor (HS).
 */
export type CostClass = 'none' | 'm-trap' | 'vm-exit';

export interface Delegation {
  /** medeleg: bit c set sends cause c from a mode below M to HS instead of M. */
  readonly medeleg: bigint;
  /** hedeleg: bit c set sends cause c, once delegated to HS, from VS/VU on to VS. */
  readonly hedeleg: bigint;
}

/** hedeleg bits that are read-only zero: ecall from VS (10) and the guest-page and virtual-instruction causes (20-23). */
const HEDELEG_READ_ONLY_ZERO = (1n << 10n) | (1n << 20n) | (1n << 21n) | (1n << 22n) | (1n << 23n);

export const bits = (...causes: number[]): bigint => causes.reduce((m, c) => m | (1n << BigInt(c)), 0n);

/**
 * The mode a synchronous trap of `cause` taken in `from` lands in. By default every
 * trap goes to M; medeleg[cause] sends it to HS; a trap from V=1 that reached HS
 * goes on to VS when hedeleg[cause]. A trap never lowers privilege: one taken in M
 * stays in M, one taken in HS never goes to VS.
 */
export function trapTarget(cause: number, from: Mode, d: Delegation): Mode {
  const c = BigInt(cause);
  if (from === 'M' || ((d.medeleg >> c) & 1n) === 0n) return 'M';
  const hedeleg = d.hedeleg & ~HEDELEG_READ_ONLY_ZERO;
  if ((from === 'VS' || from === 'VU') && ((hedeleg >> c) & 1n) === 1n) return 'VS';
  return 'HS';
}

export function costClass(from: Mode, to: Mode): CostClass {
  if (to === 'M') return 'm-trap';
  if (to === 'HS' && (from === 'VS' || from === 'VU')) return 'vm-exit';
  return 'none';
}

/** One trap a step took: its cause, where from, where it went, what it cost, and why (for the exit counters). */
export interface Trap {
  readonly cause: number;
  readonly from: Mode;
  readonly to: Mode;
  readonly cost: CostClass;
  readonly reason: TrapReason;
}

/** Why a model trapped: the bookkeeping the exit-accounting property checks. */
export type TrapReason =
  /** The guest's own page fault, delivered to it (VS): no hypervisor involved. */
  | 'page-fault-to-guest'
  | 'satp-write'
  | 'sfence'
  | 'pt-store-protected'
  | 'shadow-miss'
  | 'shadow-permission'
  | 'dirty-log'
  | 'access-fault-emulation'
  /** A guest-page fault on a mapping the G-stage table allows (the hart's cached entry was stale): fence and retry. */
  | 'spurious-guest-page-fault'
  /** An SBI call (ecall from VS, cause 10): the RFENCE extension's remote fences (several harts, docs/decisions/0015). */
  | 'sbi-call'
  /** An inter-processor interrupt that makes another hart run the fences a change owes it (several harts). */
  | 'remote-fence-ipi';

export function takeTrap(cause: number, from: Mode, d: Delegation, reason: TrapReason): Trap {
  const to = trapTarget(cause, from, d);
  return { cause, from, to, cost: costClass(from, to), reason };
}

// ---------------------------------------------------------------------------------------------
// Instruction traps: which exception an address-translation instruction raises, by mode
// ---------------------------------------------------------------------------------------------

/** The modes an instruction executes in below M (H extension, "Privilege Modes"): U and HS with V=0, VU and VS with V=1. */
export type ExecMode = 'U' | 'HS' | 'VS' | 'VU';

/**
 * The instructions of the trap matrix. `satp-*` is a CSR instruction naming satp (0x180), which
 * reaches vsatp when V=1; `vsatp-*` names vsatp by its own address (0x280); `hgatp-*` is 0x680.
 */
export type MatrixInstruction =
  | 'satp-read' | 'satp-write'
  | 'hgatp-read' | 'hgatp-write'
  | 'vsatp-read' | 'vsatp-write'
  | 'sfence.vma' | 'hfence.vvma' | 'hfence.gvma'
  | 'ecall';

/** The trap controls the matrix depends on: mstatus.TVM and hstatus.VTVM. */
export interface TrapControls {
  readonly tvm: boolean;
  readonly vtvm: boolean;
}

/** Cause codes an instruction trap may raise (priv spec, mcause table with the H extension). */
export const INSTRUCTION_CAUSE = {
  illegalInstruction: CAUSE.illegalInstruction,
  virtualInstruction: CAUSE.virtualInstruction,
  ecallFromU: 8,
  ecallFromHS: 9,
  ecallFromVS: CAUSE.ecallFromVS,
} as const;

/** One encoding of each matrix instruction (rd/rs1 = a0 for the CSR forms, x0 operands for the fences). */
export const INSTRUCTION_BITS: Readonly<Record<MatrixInstruction, bigint>> = {
  'satp-read': 0x1800_2573n, // csrrs a0, satp, x0
  'satp-write': 0x1805_1073n, // csrrw x0, satp, a0
  'hgatp-read': 0x6800_2573n,
  'hgatp-write': 0x6805_1073n,
  'vsatp-read': 0x2800_2573n,
  'vsatp-write': 0x2805_1073n,
  'sfence.vma': 0x1200_0073n, // sfence.vma x0, x0
  'hfence.vvma': 0x2200_0073n,
  'hfence.gvma': 0x6200_0073n,
  ecall: 0x0000_0073n,
};

/**
 * The exception `instr` raises in `mode`, or null if it executes (for ecall, the environment-call
 * cause it always raises). Sources, priv spec:
 * - U-mode: a CSR "without appropriate privilege level" (satp is a supervisor CSR, hgatp and
 *   vsatp hypervisor-level ones, by address bits 9:8) and a supervisor or hypervisor instruction
 *   raise illegal-instruction (csrs.adoc conventions; hypervisor.adoc: VS CSRs "Attempts from
 *   U-mode cause an illegal-instruction exception as usual"; HFENCE "in U-mode cause an
 *   illegal-instruction exception").
 * - HS-mode, mstatus.TVM=1 (machine.adoc, "Virtualization Support in mstatus"; hypervisor.adoc,
 *   "Machine Status Registers"): satp accesses and SFENCE.VMA are illegal; "TVM=1 prevents
 *   HS-mode from accessing hgatp or executing HFENCE.GVMA ..., but has no effect on accesses to
 *   vsatp or instructions HFENCE.VVMA"; "Neither mstatus.TVM nor hstatus.VTVM causes HFENCE.VVMA
 *   to trap".
 * - VS-mode: "The TSR and TVM fields of mstatus affect execution only in HS-mode, not in VS-mode";
 *   hstatus.VTVM=1 makes SFENCE.VMA and satp accesses virtual-instruction exceptions ("Hypervisor
 *   Status Register"; "Trap Cause Codes", virtual-instruction list).
 * - VS- and VU-mode: hypervisor CSRs (hgatp) and VS CSRs by their own address (vsatp) "when the
 *   same access would be allowed in HS-mode, assuming mstatus.TVM=0", and HFENCE ("a hypervisor
 *   instruction"), raise virtual-instruction ("When V=1, an attempt to read or write a VS CSR
 *   directly by its own separate CSR address causes a virtual-instruction exception"; "Attempts
 *   to execute HFENCE.VVMA or HFENCE.GVMA when V=1 cause a virtual-instruction exception").
 * - VU-mode: a supervisor CSR (satp) that HS-mode could access with TVM=0, and SFENCE ("a
 *   supervisor instruction"), raise virtual-instruction, whatever VTVM.
 * - ECALL: 8 from U or VU ("Environment call from U-mode or VU-mode"), 9 from HS, 10 from VS.
 */
export function instructionTrap(instr: MatrixInstruction, mode: ExecMode, csrs: TrapControls): number | null {
  const { illegalInstruction: ILLEGAL, virtualInstruction: VIRTUAL } = INSTRUCTION_CAUSE;
  switch (instr) {
    case 'satp-read':
    case 'satp-write':
    case 'sfence.vma':
      if (mode === 'U') return ILLEGAL;
      if (mode === 'HS') return csrs.tvm ? ILLEGAL : null;
      if (mode === 'VS') return csrs.vtvm ? VIRTUAL : null; // mstatus.TVM is ignored in VS-mode
      return VIRTUAL; // VU: HS-qualified, but insufficient privilege
    case 'hgatp-read':
    case 'hgatp-write':
    case 'hfence.gvma':
      if (mode === 'U') return ILLEGAL;
      if (mode === 'HS') return csrs.tvm ? ILLEGAL : null;
      return VIRTUAL; // VS, VU: allowed in HS-mode with TVM=0, so a virtual instruction (TVM plays no part)
    case 'vsatp-read':
    case 'vsatp-write':
    case 'hfence.vvma':
      if (mode === 'U') return ILLEGAL;
      if (mode === 'HS') return null; // neither TVM nor VTVM reaches vsatp or HFENCE.VVMA
      return VIRTUAL;
    case 'ecall':
      if (mode === 'HS') return INSTRUCTION_CAUSE.ecallFromHS;
      if (mode === 'VS') return INSTRUCTION_CAUSE.ecallFromVS;
      return INSTRUCTION_CAUSE.ecallFromU; // U and VU
  }
}

/**
 * What an illegal- or virtual-instruction trap writes to mtval/stval/vstval: "either zero or"
 * the faulting instruction bits, right-justified (machine.adoc, "Machine Trap Value Register";
 * hypervisor.adoc: "On a virtual-instruction trap, mtval or stval is written the same as for an
 * illegal-instruction trap"). Which one is the implementation's choice: a configuration.
 */
export type InstructionTvalConfig = 'zero' | 'instruction-bits';

/** The trap value of an instruction trap of `cause`. Environment calls write zero ("For other traps, mtval is set to zero"). */
export function trapValue(cause: number, instructionBits: bigint, config: InstructionTvalConfig): bigint {
  const instructionTrapCause = cause === INSTRUCTION_CAUSE.illegalInstruction || cause === INSTRUCTION_CAUSE.virtualInstruction;
  return instructionTrapCause && config === 'instruction-bits' ? instructionBits : 0n;
}

/**
 * `trapTarget` for every mode below M. "When a trap occurs in HS-mode or U-mode, it goes to
 * M-mode, unless delegated by medeleg ..., in which case it goes to HS-mode" (H extension,
 * "Trap Entry"): U-mode routes exactly as HS-mode does.
 */
export function landingMode(cause: number, from: ExecMode, d: Delegation): Mode {
  return trapTarget(cause, from === 'U' ? 'HS' : from, d);
}
