/**
 * The N-hart reference's allowed sets are *equal* to the listed ones in every
 * several-hart litmus case (spec/litmus/harts/), and every SBI call returns the
 * listed sbiret.error. Every one-hart case (spec/litmus/*.json) also passes
 * unchanged when its ops run on one hart of a guest with more harts that never
 * step: harts that do nothing change nothing another hart may do.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { HARTS_LITMUS_FORMAT, type HartsLitmusFile, onHart, runHartsLitmus } from './litmus/harts.ts';
import type { LitmusFile } from './litmus/litmus.ts';

const hartsDir = new URL('./litmus/harts/', import.meta.url);
const hartsFiles = readdirSync(hartsDir).filter((f) => f.endsWith('.json'));

test('there are several-hart litmus files', () => {
  expect(hartsFiles.length).toBeGreaterThan(0);
});

describe.each(hartsFiles)('%s', (file) => {
  const data = JSON.parse(readFileSync(new URL(file, hartsDir), 'utf8')) as HartsLitmusFile;
  test('format', () => expect(data.format).toBe(HARTS_LITMUS_FORMAT));
  test.each(data.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    for (const check of runHartsLitmus(c)) {
      expect({ op: check.opIndex, hart: check.hart, allowed: check.actual }).toEqual({ op: check.opIndex, hart: check.hart, allowed: check.expected });
    }
  });
});

const oneHartDir = new URL('./litmus/', import.meta.url);
const oneHartCases = readdirSync(oneHartDir)
  .filter((f) => f.endsWith('.json'))
  .flatMap((f) => (JSON.parse(readFileSync(new URL(f, oneHartDir), 'utf8')) as LitmusFile).cases);

describe.each([
  [1, 0],
  [2, 1],
  [4, 3],
] as const)('one-hart cases on a guest of %i harts, on hart %i', (harts, hart) => {
  test.each(oneHartCases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    for (const check of runHartsLitmus(onHart(c, harts, hart))) {
      expect({ op: check.opIndex, allowed: check.actual }).toEqual({ op: check.opIndex, allowed: check.expected });
    }
  });
});
