/**
 * Every committed counterexample still fails under its variant and passes under
 * the correct model, matches its recorded states, and is 1-minimal: removing any
 * single step gives a program that no longer fails. Files that cannot be read are
 * refused with a one-line reason.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { VARIANTS } from '../model/variants.ts';
import { PROPERTIES } from '../properties/catalogue.ts';
import { PROPERTY_NAMES } from '../properties/run.ts';
import { TraceError } from './itf.ts';
import { loadTrace, machineFor, replayTrace } from './replay.ts';
import { TRACE_VARS } from './trace.ts';

const dir = new URL('./seeded/', import.meta.url).pathname;
const files = readdirSync(dir).filter((f) => f.endsWith('.itf.json')).sort();

test('every variant has a committed counterexample, and names properties that exist', () => {
  expect(files).toEqual(VARIANTS.map((v) => `${v.name}.itf.json`).sort());
  for (const v of VARIANTS) for (const p of v.caughtBy) expect(PROPERTIES.map((x) => x.name)).toContain(p);
});

test('the schema names the properties, models, variants and variables the code has', () => {
  const schema = JSON.parse(readFileSync(new URL('./schema.json', import.meta.url), 'utf8')) as {
    properties: { vars: { items: { enum: string[] } } };
    definitions: { meta: { properties: Record<string, { enum?: string[] }> } };
  };
  const meta = schema.definitions.meta.properties;
  expect(meta.property?.enum).toEqual([...PROPERTY_NAMES]);
  expect(meta.model?.enum).toEqual(['npt', 'tsp', 'ssp']);
  expect(meta.variant?.enum).toEqual(['none', ...VARIANTS.map((v) => v.name)]);
  expect(schema.properties.vars.items.enum).toEqual([...TRACE_VARS]);
});

describe.each(files)('%s', (file) => {
  const t = loadTrace(join(dir, file));
  const { machine } = machineFor(t.meta);
  const correct = machineFor(t.meta, { model: t.meta.model as 'npt' }).machine;

  test('fails under its variant at the recorded step, with the recorded states', () => {
    const r = replayTrace(t, machine, { checkStates: true });
    expect(r.violation?.step).toBe(t.meta.violation.step - 1);
    expect(r.mismatch).toBeNull();
  });

  test('passes under the correct model', () => {
    expect(replayTrace(t, correct).violation).toBeNull();
  });

  test('has no removable step', () => {
    t.events.forEach((_e, i) => {
      const events = [...t.events.slice(0, i), ...t.events.slice(i + 1)];
      expect(replayTrace(t, machine, { events }).violation, `without step ${i + 1}`).toBeNull();
    });
  });
});

describe('a file that cannot be read is refused with one line', () => {
  const good = readFileSync(join(dir, files[0] ?? ''), 'utf8');
  const tmp = mkdtempSync(join(tmpdir(), 'ssp-spec-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const cases: [string, string, RegExp][] = [
    ['malformed JSON', '{"states": [', /^malformed JSON/],
    ['wrong schema version', good.replace('ssp-spec-counterexample/1', 'ssp-spec-counterexample/2'), /^wrong schema version/],
    ['unknown action', good.replace('"kind": "satp"', '"kind": "teleport"'), /^state [1-9][0-9]*: action\.kind must be one of ptStore, .* \(got 'teleport'\)$/],
    ['not a trace', '{"hello": 1}', /^#meta is missing$/],
    ['address out of range', good.replace(/"va": \{\s*"#bigint": "\d+"/, '"va": {"#bigint": "1234567890"'), /out of range/],
  ];
  test.each(cases)('%s', (_name, text, reason) => {
    const f = join(tmp, 'bad.itf.json');
    writeFileSync(f, text);
    let err: unknown = null;
    try {
      loadTrace(f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TraceError);
    expect((err as Error).message).toMatch(reason);
    expect((err as Error).message).not.toContain('\n');
  });
});

test('the replay command exits 1 when the violation reproduces, 0 when it does not, 2 for a bad file', () => {
  const run = (args: string[]): number => {
    try {
      execFileSync(process.execPath, ['--import', 'tsx', 'cli/replay.ts', ...args], { stdio: 'pipe' });
      return 0;
    } catch (e) {
      return (e as { status: number }).status;
    }
  };
  const f = join(dir, files[0] ?? '');
  expect(run([f])).toBe(1);
  expect(run([f, '--model', f.includes('npt') ? 'npt' : f.includes('tsp') ? 'tsp' : 'ssp'])).toBe(0);
  expect(run(['/nonexistent.itf.json'])).toBe(2);
});
