/**
 * The reference agrees with QEMU's RISC-V MMU on random scenarios (every
 * difference is a documented QEMU 7.2 deviation), and a deliberately wrong
 * reference is caught on the same results. Skipped, saying so, where QEMU is absent.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { CATEGORIES, type Mutation, scenarioArb } from './categories.ts';
import { HarnessError, type OpResult, parseResults } from './protocol.ts';
import { conformanceUnavailable, runBatch } from './qemu.ts';
import { envCount, envSeed } from '../properties/seed.ts';

const unavailable = conformanceUnavailable();
if (unavailable !== null) console.warn(`conformance tests skipped: ${unavailable}`);

describe.skipIf(unavailable !== null)('against QEMU', () => {
  const scenarios = envCount('SSP_SPEC_CONFORMANCE', 1000);
  const seed = envSeed('SSP_SPEC_CONFORMANCE_SEED');
  if (unavailable === null) console.log(`conformance/conformance.test.ts: ${scenarios} scenarios, seed ${seed} (reproduce: npm run conformance -- --scenarios ${scenarios} --seed ${seed})`);
  const generated = fc.sample(scenarioArb(CATEGORIES), { numRuns: scenarios, seed });
  let results: OpResult[][] = [];
  // One QEMU boot for the whole file, and only when the suite is not skipped.
  beforeAll(() => {
    results = runBatch(generated.map((g) => g.scenario));
  });
  const unexplained = (mutation: Mutation | null) =>
    generated.flatMap((g, i) => g.check(results[i] ?? [], mutation).filter((v) => v.explainedBy.length === 0).map((v) => `scenario ${i} (${g.category}) op ${v.op}: ${v.message}`));

  test('every outcome QEMU produces is one the reference allows, or a documented QEMU deviation', () => {
    expect(new Set(generated.map((g) => g.category))).toEqual(new Set(CATEGORIES.map((c) => c.name)));
    expect(unexplained(null)).toEqual([]);
  });

  test.each(['ignore-mxr', 'ignore-sum', 'no-hardware-ad', 'instruction-tval-zero'] as const)('a reference mutated to %s disagrees with QEMU', (m) => {
    expect(unexplained(m).length).toBeGreaterThan(0);
  });
});

test('result lines are parsed, and a harness that stopped or did not finish is an error', () => {
  const ok = parseResults('R 0 0 ok 0 0 0 2a\nR 0 1 M d 40001000 0 0\nDONE 1\n', 1);
  expect(ok[0]?.map((r) => [r.where, r.cause, r.value])).toEqual([['ok', 0n, 0x2an], ['M', 13n, 0n]]);
  expect(() => parseResults('R 0 0 ok 0 0 0 0\n', 1)).toThrow(HarnessError);
  expect(() => parseResults('FATAL 0 0 2 80000000 0\nDONE 1\n', 1)).toThrow(/stopped/);
});
