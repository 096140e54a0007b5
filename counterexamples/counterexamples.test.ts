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
import { HART_VARIANTS } from '../model/vcpu-variants.ts';
import { HARTS_TRACE_VARS, hartsMachineFor, replayHartsTrace } from './harts-trace.ts';

const dir = new URL('./seeded/', import.meta.url).pathname;
const files = readdirSync(dir).filter((f) => f.endsWith('.itf.json')).sort();

test('every variant, one-hart and several-hart, has a committed counterexample, and names properties that exist', () => {
  expect(files).toEqual([...VARIANTS, ...HART_VARIANTS].map((v) => `${v.name}.itf.json`).sort());
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
  expect(meta.variant?.enum).toEqual(['none', ...VARIANTS.map((v) => v.name), ...HART_VARIANTS.map((v) => v.name)]);
  expect(new Set(schema.properties.vars.items.enum)).toEqual(new Set([...TRACE_VARS, ...HARTS_TRACE_VARS]));
});

const oneHart = files.filter((f) => !HART_VARIANTS.some((v) => f === `${v.name}.itf.json`));
const severalHarts = files.filter((f) => !oneHart.includes(f));

describe.each(oneHart)('%s', (file) => {
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

describe.each(severalHarts)('%s (several harts)', (file) => {
  const t = loadTrace(join(dir, file));
  const { machine } = hartsMachineFor(t.meta);
  const correct = hartsMachineFor(t.meta, { model: t.meta.model as 'npt' }).machine;
  const steps = t.harts?.steps ?? [];

  test('names its harts, and every step its hart', () => {
    expect(t.harts?.count).toBeGreaterThanOrEqual(2);
    expect(t.meta.check).toBeDefined();
    expect(steps).toHaveLength(t.states.length - 1);
    t.states.slice(1).forEach((st, i) => expect(st.hart, `state ${i + 1}`).toBe(steps[i]?.hart));
  });

  test('fails under its variant with the recorded check at the recorded step, with the recorded states', () => {
    const r = replayHartsTrace(t, machine, { checkStates: true });
    expect(r.violation?.step).toBe(t.meta.violation.step - 1);
    expect(r.violation?.check).toBe(t.meta.check);
    expect(r.mismatch).toBeNull();
  });

  test('passes under the correct model', () => {
    expect(replayHartsTrace(t, correct).violation).toBeNull();
  });

  test('has no removable step', () => {
    steps.forEach((_s, i) => {
      expect(replayHartsTrace(t, machine, { steps: [...steps.slice(0, i), ...steps.slice(i + 1)] }).violation, `without step ${i + 1}`).toBeNull();
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
