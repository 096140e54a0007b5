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

/** Supervisor instructions whose trapping in VS-mode hstatus.VTVM controls. */
export type VtvmInstruction = 'satp-access' | 'sfence.vma';

/**
 * hstatus.VTVM=1: a VS-mode satp access or SFENCE.VMA/SINVAL.VMA raises a
 * virtual-instruction exception (cause 22). In VU-mode these instructions always
 * raise it (they are supervisor instructions). Returns the cause, or null if the
 * instruction executes.
 */
export function vtvmTrap(_instr: VtvmInstruction, mode: 'VS' | 'VU', vtvm: boolean): number | null {
  if (mode === 'VU' || vtvm) return CAUSE.virtualInstruction;
  return null;
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
  | 'guest-page-fault'
  | 'satp-write'
  | 'sfence'
  | 'pt-store-protected'
  | 'shadow-miss'
  | 'shadow-permission'
  | 'dirty-log'
  | 'access-fault-emulation';

export function takeTrap(cause: number, from: Mode, d: Delegation, reason: TrapReason): Trap {
  const to = trapTarget(cause, from, d);
  return { cause, from, to, cost: costClass(from, to), reason };
}
