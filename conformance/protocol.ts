/**
 * The driver's side of conformance/PROTOCOL.md: scenarios as data, the batch
 * file QEMU loads, and the result lines the harness prints.
 */
import { hex } from '../spec/address.ts';

export const BATCH_ADDRESS = 0x8800_0000n;
const MAGIC = 0x4843544142505353n;

/** Operation kinds (PROTOCOL.md). */
export const OP = {
  mStore: 1, mRead: 2, mSatp: 3, mVsatp: 4, mHgatp: 5, mFlush: 6,
  load: 16, store: 17, fetch: 18, csrwSatp: 19, csrrSatp: 20,
  sfenceAll: 21, sfenceVa: 22, sfenceAsid: 23, sfenceVaAsid: 24, hfenceVvma: 25, hfenceGvma: 26,
  csrwHgatp: 27, csrrHgatp: 28, ecall: 29,
} as const;
export type OpKind = (typeof OP)[keyof typeof OP];

export const MODE = { U: 0n, S: 1n, VU: 2n, VS: 3n } as const;
export type LowerMode = keyof typeof MODE;

export interface Op {
  readonly kind: OpKind;
  readonly a: bigint;
  readonly b: bigint;
}

export interface Scenario {
  readonly stores: readonly (readonly [bigint, bigint])[];
  readonly satp: bigint;
  readonly vsatp: bigint;
  readonly hgatp: bigint;
  readonly mstatusSet: bigint;
  readonly vsstatusSet: bigint;
  readonly hstatusSet: bigint;
  readonly medeleg: bigint;
  readonly hedeleg: bigint;
  readonly mode: LowerMode;
  readonly ops: readonly Op[];
}

export function encodeBatch(scenarios: readonly Scenario[]): Buffer {
  const words: bigint[] = [MAGIC, BigInt(scenarios.length)];
  for (const s of scenarios) {
    words.push(BigInt(s.stores.length));
    for (const [a, v] of s.stores) words.push(a, v);
    words.push(s.satp, s.vsatp, s.hgatp, s.mstatusSet, s.vsstatusSet, s.hstatusSet, s.medeleg, s.hedeleg, MODE[s.mode]);
    words.push(BigInt(s.ops.length));
    for (const o of s.ops) words.push(BigInt(o.kind), o.a, o.b);
  }
  const buf = Buffer.alloc(words.length * 8);
  words.forEach((w, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, w), i * 8));
  return buf;
}

export type Where = 'ok' | 'M' | 'HS' | 'VS';

export interface OpResult {
  readonly scenario: number;
  readonly op: number;
  readonly where: Where;
  readonly cause: bigint;
  readonly tval: bigint;
  readonly tval2: bigint;
  readonly value: bigint;
}

export class HarnessError extends Error {}

/** Parse the harness's UART output into results[scenario][op]. */
export function parseResults(output: string, scenarios: number): OpResult[][] {
  const results: OpResult[][] = Array.from({ length: scenarios }, () => []);
  let done = false;
  for (const line of output.split(/\r?\n/)) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'R' && f.length === 8) {
      const [scenario, op] = [Number.parseInt(f[1] as string, 16), Number.parseInt(f[2] as string, 16)];
      const where = f[3] as Where;
      if (!['ok', 'M', 'HS', 'VS'].includes(where)) throw new HarnessError(`bad result line: ${line}`);
      const n = (i: number) => BigInt(`0x${f[i] as string}`);
      results[scenario]?.push({ scenario, op, where, cause: n(4), tval: n(5), tval2: n(6), value: n(7) });
    } else if (f[0] === 'FATAL') {
      throw new HarnessError(`the harness stopped: ${line.trim()}`);
    } else if (f[0] === 'DONE') {
      done = true;
    }
  }
  if (!done) throw new HarnessError('the harness did not finish the batch (no DONE line)');
  return results;
}

export const describeOp = (o: Op): string => {
  const name = Object.entries(OP).find(([, k]) => k === o.kind)?.[0] ?? `kind ${o.kind}`;
  return `${name}(${hex(o.a)}, ${hex(o.b)})`;
};
