/**
 * A conformance run: generate scenarios from a seed, run them on QEMU in batches
 * (one boot per batch), check every result against the reference, and collect
 * the disagreements. Used by `npm run conformance` and the vitest suite.
 */
import fc from 'fast-check';
import { type Category, type Generated, type Mutation, type Verdict, scenarioArb } from './categories.ts';
import { runBatch } from './qemu.ts';
import type { OpResult } from './protocol.ts';

export interface ConformanceOptions {
  readonly scenarios: number;
  readonly seed: number;
  readonly batchSize: number;
  readonly categories: readonly Category[];
  readonly mutation: Mutation | null;
  readonly onBatch?: (done: number, total: number, seconds: number) => void;
}

export interface Found {
  readonly index: number;
  readonly generated: Generated;
  readonly results: readonly OpResult[];
  readonly disagreement: Verdict;
}

export interface ConformanceReport {
  readonly scenarios: number;
  readonly operations: number;
  readonly seconds: number;
  readonly mix: ReadonlyMap<string, number>;
  /** Differences no documented QEMU deviation explains: the run fails on any. */
  readonly disagreements: readonly Found[];
  /** Differences a documented QEMU deviation explains, by deviation. */
  readonly explained: ReadonlyMap<string, number>;
}

export function runConformance(o: ConformanceOptions): ConformanceReport {
  const mix = new Map<string, number>();
  const disagreements: Found[] = [];
  const explained = new Map<string, number>();
  let operations = 0;
  const started = performance.now();
  const arb = scenarioArb(o.categories);
  for (let start = 0; start < o.scenarios; start += o.batchSize) {
    // Each batch from its own seed, derived from the run's: memory stays bounded by one batch.
    const batch = fc.sample(arb, { numRuns: Math.min(o.batchSize, o.scenarios - start), seed: batchSeed(o.seed, start / o.batchSize) });
    for (const g of batch) mix.set(g.category, (mix.get(g.category) ?? 0) + 1);
    const results = runBatch(batch.map((g) => g.scenario));
    batch.forEach((g, i) => {
      const r = results[i] ?? [];
      operations += r.length;
      for (const v of g.check(r, o.mutation)) {
        for (const id of v.explainedBy) explained.set(id, (explained.get(id) ?? 0) + 1);
        if (v.explainedBy.length === 0) disagreements.push({ index: start + i, generated: g, results: r, disagreement: v });
      }
    });
    o.onBatch?.(start + batch.length, o.scenarios, (performance.now() - started) / 1000);
  }
  return { scenarios: o.scenarios, operations, seconds: (performance.now() - started) / 1000, mix, disagreements, explained };
}

/** The seed of batch `i` of a run: the run's own for the first, then a fixed mix of it. */
export const batchSeed = (seed: number, i: number): number => (i === 0 ? seed : (seed ^ Math.imul(i, 0x9e3779b1)) | 0);
