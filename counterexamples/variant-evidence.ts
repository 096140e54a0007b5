/**
 * The test that every seeded-bug variant is caught, within the default budget, by
 * each of the properties its registry entry names, and that the evidence
 * `npm start` saves for it is honest: read back and replayed as a user replays it,
 * the file fails under its variant at the recorded step and passes on the correct
 * model. The pairs are split between test files so that vitest's workers share them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { MODELS } from '../model/models.ts';
import { VARIANTS, type Variant } from '../model/variants.ts';
import { PROPERTIES } from '../properties/catalogue.ts';
import { DEFAULT_BUDGET, checkProperty } from '../properties/suite.ts';
import { loadTrace, replayTrace } from './replay.ts';
import { saveCounterexample } from './store.ts';

const SEED = 1;
const pairs = VARIANTS.flatMap((v) => v.caughtBy.map((p) => [`${v.name} by ${p}`, v, p] as const));

/** Define the tests for every `of`-th pair, starting at `shard`. */
export function variantEvidenceTests(shard: number, of: number): void {
  const tmp = mkdtempSync(join(tmpdir(), 'ssp-spec-variants-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  test.each(pairs.filter((_p, i) => i % of === shard))('%s', (_name, variant, property) => evidenceOf(tmp, variant, property));
}

function evidenceOf(tmp: string, variant: Variant, property: string): void {
  const spec = PROPERTIES.find((p) => p.name === property);
  if (spec === undefined) throw new Error(`${variant.name} names unknown property ${property}`);
  const correct = MODELS[variant.base];
  // A fixed seed: this is a statement about the registry, not a search.
  // Not polished to its shortest: this test is about the verdict and the honesty of the evidence (npm run counterexamples polishes).
  const r = checkProperty(spec, variant.machine, { ...DEFAULT_BUDGET, seed: SEED }, { correct, polish: false });
  expect(r.verdict).toBe('fail');
  const c = r.counterexample;
  if (c === null) throw new Error('a failing check without a counterexample');
  expect(c.failsOn, 'the minimal program fails on the correct model too').toBe(variant.machine);

  const file = join(tmp, `${variant.name}-${property}.itf.json`);
  const saved = saveCounterexample({
    file, correct, machine: variant.machine, variant: variant.name, property: spec.name, guest: c.guest, ad: c.ad, events: c.events, seed: SEED, path: r.path ?? '',
  });
  expect(saved).toEqual({ saved: true, file });
  const t = loadTrace(file);
  expect(replayTrace(t, variant.machine).violation?.step).toBe(t.meta.violation.step - 1);
  expect(replayTrace(t, correct).violation).toBeNull();
}
