/**
 * Litmus cases for a guest with several harts (format `sv39-harts-litmus/1`,
 * described in spec/litmus/harts/README.md): the one-hart format with a hart
 * count, a `hart` on every op, and the SBI remote fences. This file parses a
 * case and runs it against the N-hart reference (spec/harts.ts).
 *
 * The cases live in spec/litmus/harts/, not beside the one-hart files: every
 * `*.json` directly in spec/litmus/ is read as `sv39-litmus/1` by other checks
 * (the explicit-cache oracle replays them as one-hart programs).
 */
import { gva } from '../address.ts';
import type { GuestConfig } from '../config.ts';
import { type HartStep, hartsRun, initialHarts } from '../harts.ts';
import { freshOutcome } from '../reference.ts';
import { type SbiCall, SBI_ERR_INVALID_PARAM, SBI_SUCCESS } from '../sbi.ts';
import { type LitmusCase, type LitmusOp, litmusConfig, litmusKey, referenceKey, toGuestAction } from './litmus.ts';

/** The arguments of both remote fences, register values as hexadecimal strings ("0xffffffffffffffff" is -1). */
interface SbiFenceOp {
  readonly hart?: number;
  readonly hart_mask: string;
  readonly hart_mask_base: string;
  readonly start_addr: string;
  readonly size: string;
  /** The sbiret.error the call must return: 0 (SBI_SUCCESS) or -3 (SBI_ERR_INVALID_PARAM). */
  readonly error: number;
}

export type HartsLitmusOp =
  | (LitmusOp & { readonly hart?: number })
  | (SbiFenceOp & { readonly op: 'sbi_remote_sfence_vma' })
  | (SbiFenceOp & { readonly op: 'sbi_remote_sfence_vma_asid'; readonly asid: number });

export interface HartsLitmusCase {
  readonly name: string;
  readonly why: string;
  readonly config: LitmusCase['config'] & { readonly harts: number };
  readonly ops: readonly HartsLitmusOp[];
}

export interface HartsLitmusFile {
  readonly format: string;
  readonly cases: readonly HartsLitmusCase[];
}

export const HARTS_LITMUS_FORMAT = 'sv39-harts-litmus/1';

const isSbi = (op: HartsLitmusOp): op is Extract<HartsLitmusOp, SbiFenceOp> =>
  op.op === 'sbi_remote_sfence_vma' || op.op === 'sbi_remote_sfence_vma_asid';

export function toHartStep(op: HartsLitmusOp): HartStep {
  const hart = op.hart ?? 0;
  if (!isSbi(op)) return { kind: 'guest', hart, action: toGuestAction(op) };
  const args = { hartMask: BigInt(op.hart_mask), hartMaskBase: BigInt(op.hart_mask_base), startAddr: BigInt(op.start_addr), size: BigInt(op.size) };
  const call: SbiCall = op.op === 'sbi_remote_sfence_vma'
    ? { kind: 'remoteSfenceVma', ...args }
    : { kind: 'remoteSfenceVmaAsid', ...args, asid: BigInt(op.asid) };
  return { kind: 'sbi', hart, call };
}

/** One check of a case: an access's allowed set, or an SBI call's sbiret.error, listed beside the reference's. */
export interface HartsCheck {
  readonly opIndex: number;
  readonly hart: number;
  readonly expected: readonly string[];
  readonly actual: readonly string[];
}

export function hartsLitmusConfig(c: HartsLitmusCase): GuestConfig {
  return litmusConfig({ name: c.name, why: c.why, config: c.config, ops: [] });
}

const sbiErrorName = (error: number): string =>
  error === SBI_SUCCESS ? 'SBI_SUCCESS' : error === SBI_ERR_INVALID_PARAM ? 'SBI_ERR_INVALID_PARAM' : `sbi error ${error}`;

/**
 * Run a case against the N-hart reference: every access's allowed set on its
 * hart and every SBI call's return, beside the listed ones. Accesses advance by
 * the walk that reads memory, as in the one-hart runner. The universe is every
 * address any hart accesses.
 */
export function runHartsLitmus(c: HartsLitmusCase, cfg: GuestConfig = hartsLitmusConfig(c)): HartsCheck[] {
  const universe = c.ops.flatMap((o) => (o.op === 'access' ? [gva(BigInt(o.va))] : []));
  let state = initialHarts(cfg, c.config.harts, universe);
  const checks: HartsCheck[] = [];
  c.ops.forEach((op, opIndex) => {
    const step = toHartStep(op);
    const { state: next, result } = hartsRun(state, step, (_allowed, view, a) => freshOutcome(view, a));
    state = next;
    if (result.kind === 'access' && op.op === 'access') {
      checks.push({
        opIndex,
        hart: step.hart,
        expected: [...new Set(op.allowed.map(litmusKey))].sort(),
        actual: [...new Set(result.allowed.map(referenceKey))].sort(),
      });
    } else if (result.kind === 'sbi' && isSbi(op)) {
      checks.push({ opIndex, hart: step.hart, expected: [sbiErrorName(op.error)], actual: [sbiErrorName(result.ret.error)] });
    }
  });
  return checks;
}

/** A one-hart case as a case of `harts` harts, every op on hart `hart` (the others never step). */
export function onHart(c: LitmusCase, harts: number, hart: number): HartsLitmusCase {
  return { name: c.name, why: c.why, config: { ...c.config, harts }, ops: c.ops.map((op) => ({ ...op, hart })) };
}
