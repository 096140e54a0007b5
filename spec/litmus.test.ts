/**
 * The reference's allowed sets are *equal* to the listed ones in every litmus
 * case: not a superset (too permissive), not a subset (too strict).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { type LitmusFile, runLitmus } from './litmus/litmus.ts';

const dir = new URL('./litmus/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe.each(files)('%s', (file) => {
  const data = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as LitmusFile;
  test.each(data.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    for (const check of runLitmus(c)) {
      expect({ op: check.opIndex, allowed: check.actual }).toEqual({ op: check.opIndex, allowed: check.expected });
    }
  });
});
