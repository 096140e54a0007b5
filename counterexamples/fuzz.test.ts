/**
 * The replay never crashes and never takes a bad file for a good one: random
 * mutations of the committed traces (wrong types, unknown enum strings, missing
 * or unknown fields, negative and huge numbers, deep nesting, control characters,
 * a BOM, truncated JSON, duplicated or dropped steps) run through the replay
 * command in this process. Each must end in a verdict (0, 1, 3) or in exactly one
 * printable line on stderr and exit 2, never in an exception. A few tests spawn
 * the command lines themselves, for what only a process shows: a closed pipe,
 * colour, and the one-line message of a bad option.
 *
 * Budgets are counts of inputs; the timeouts only end a run that hangs.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { match } from 'ts-pattern';
import { afterAll, describe, expect, test } from 'vitest';
import { runReplay } from '../cli/replay.ts';
import { execute, type Main } from '../cli/command.ts';
import { bufferIo, colorWanted } from '../cli/output.ts';
import { main as startMain } from '../cli/main.ts';
import { main as conformanceMain } from '../cli/conformance.ts';
import { main as detectionMain } from '../bench/detection.ts';
import { main as exhaustiveMain } from '../cli/exhaustive.ts';
import { BadValueError, envCount, envSeed, fastCheckSeed } from '../properties/seed.ts';

const FILE = 'counterexamples/fuzz.test.ts';
/** Inputs per run: 2,000, more when SSP_SPEC_RUNS deepens the suite past its default of 150 programs. */
const INPUTS = Math.max(2000, Math.round((2000 * envCount('SSP_SPEC_RUNS', 150)) / 150));
const seed = envSeed('SSP_SPEC_SEED');
console.log(`${FILE}: seed ${seed}, ${INPUTS} inputs (reproduce: SSP_SPEC_SEED=${seed} npx vitest run ${FILE})`);

const dir = new URL('./seeded/', import.meta.url).pathname;
const traces = readdirSync(dir).filter((f) => f.endsWith('.itf.json')).sort().map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Json);
const tmp = mkdtempSync(join(tmpdir(), 'ssp-spec-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = readonly (string | number)[];

/** Every place in a value, paths to containers included. */
function paths(v: Json, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/** The places the replay reads: actions, #meta, numbering, boot memory (mutations elsewhere are mostly recorded state). */
const readByReplay = (p: Path): boolean =>
  p[0] === '#meta' || p[0] === 'vars' || p.length <= 2 || p[2] === 'action' || p[2] === 'step' || p[2] === '#meta' || (p[1] === 0 && p[2] === 'guestMemory');

/** Each trace as compact text (parsing it again is the cheapest copy) with its places, found once. */
const seeds = traces.map((t) => {
  const all = paths(t).filter((p) => p.length > 0);
  return { text: JSON.stringify(t), all, focused: all.filter((p) => readByReplay(p)) };
});

const DEEP = '@@deep@@';
const big = (b: bigint): Json => ({ '#bigint': b.toString() });
/** Values of the right shape, in range or just outside it: these reach the replay, and its range checks. */
const plausible = fc.oneof(
  fc.integer({ min: -2, max: 65537 }),
  fc.boolean(),
  fc.constantFrom<Json>('x0', 'load', 'store', 'fetch', 'S', 'U', 'bare', 'sv39', 'refinement', 'isolation', 'tsp', 'npt', 'well-behaved'),
  // Guest RAM is 0x8000_0000..0x807f_ffff: words in it and around it, aligned or not.
  fc.bigInt({ min: 0x7fff_fff0n, max: 0x8080_0010n }).map(big),
  fc.bigInt({ min: 0x7fff0n, max: 0x80810n }).map(big),
  fc.constantFrom(0x4000_1000n, 0x4000_2008n, 0x8020_1000n, 0xffff_ffc0_0000_1000n, 0x0000_4000_0000_1000n, 0x2000_40c7n, 0x2010_00ffn).map(big),
  fc.bigInt({ min: 0n, max: 2n ** 64n }).map(big),
);
const leaf = fc.oneof(
  { weight: 3, arbitrary: plausible },
  fc.constantFrom<Json>(
    null, true, false, 0, -1, 1.5, -0.5, 1e300, -1e300, 2 ** 53, 2 ** 32, 2 ** 31, 65536, '', 'x0', 'abc', 'load', 'store', 'fetch', 'S', 'U', 'Q', 'M',
    'VS', 'bare', 'sv39', 'sv48', 'init', 'ptStore', 'access', 'none', 'ssp', 'teleport', '\u001b[2J\u001b[H', '\u0000', '\u2028', '\u009b31m', [], {}, [[]],
    { '#bigint': '-1' }, { '#bigint': '' }, { '#bigint': '0x10' }, { '#bigint': ' 1' }, { '#bigint': '007' }, { '#bigint': '1e5' },
    { '#bigint': '18446744073709551615' }, { '#bigint': '18446744073709551616' }, { '#bigint': '1208925819614629174706176' },
    { '#bigint': '2147483648' }, { '#bigint': '2155872256' }, { '#bigint': '524288' }, { '#bigint': 5 }, { '#map': [] }, { '#map': [[1, 2]] },
    { '#bigint': '1', extra: 1 }, { mode: 'sv39' }, { kind: 'init' }, { kind: 'access' },
  ),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.bigInt({ min: -(2n ** 90n), max: 2n ** 90n }).map(big),
  fc.integer({ min: 50, max: 6000 }).map((n): Json => `${DEEP}${n}`),
);

type Mutation =
  | { readonly op: 'set'; readonly at: number; readonly focus: boolean; readonly value: Json }
  | { readonly op: 'delete'; readonly at: number; readonly focus: boolean }
  | { readonly op: 'add'; readonly at: number; readonly key: string; readonly value: Json }
  | { readonly op: 'duplicate'; readonly i: number; readonly j: number }
  | { readonly op: 'drop'; readonly i: number; readonly j: number }
  | { readonly op: 'swap'; readonly i: number; readonly j: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), focus: fc.boolean(), value: leaf }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), focus: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('add' as const), at: fc.nat(), key: fc.constantFrom('foo', 'loop', 'kind', '#bigint', '\u001b'), value: leaf }) },
  { weight: 1, arbitrary: fc.oneof(
    fc.record({ op: fc.constant('duplicate' as const), i: fc.nat(), j: fc.nat() }),
    fc.record({ op: fc.constant('drop' as const), i: fc.nat(), j: fc.nat() }),
    fc.record({ op: fc.constant('swap' as const), i: fc.nat(), j: fc.nat() }),
  ) },
);

type TextMutation =
  | { readonly op: 'none' }
  | { readonly op: 'truncate' | 'bom' | 'crlf'; readonly at: number }
  | { readonly op: 'insert' | 'replace'; readonly at: number; readonly text: string };

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ op: 'none' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('truncate' as const, 'bom' as const, 'crlf' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('insert' as const, 'replace' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), text: fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }) }) },
);

function apply(t: Json, places: (typeof seeds)[number], m: Mutation): void {
  // An earlier mutation may have replaced the states with something else: then steps cannot be moved.
  const found = (t as { states?: Json }).states;
  const states: Json[] = Array.isArray(found) && found.length > 0 ? found : [null];
  /** The container and key of a place of the original trace, or null where an earlier mutation removed it. */
  const place = (at: number, focus: boolean): { parent: Record<string | number, Json>; key: string | number } | null => {
    const pool = focus && places.focused.length > 0 ? places.focused : places.all;
    const p = pool[at % pool.length] as Path;
    let parent: Json = t;
    for (const k of p.slice(0, -1)) {
      if (parent === null || typeof parent !== 'object') return null;
      parent = (parent as Record<string | number, Json>)[k] ?? null;
    }
    return parent !== null && typeof parent === 'object' ? { parent: parent as Record<string | number, Json>, key: p[p.length - 1] as string | number } : null;
  };
  match(m)
    .with({ op: 'set' }, (x) => {
      const p = place(x.at, x.focus);
      if (p !== null) p.parent[p.key] = structuredClone(x.value);
    })
    .with({ op: 'delete' }, (x) => {
      const p = place(x.at, x.focus);
      if (p === null) return;
      if (Array.isArray(p.parent)) p.parent.splice(p.key as number, 1);
      else delete p.parent[p.key];
    })
    .with({ op: 'add' }, (x) => {
      const p = place(x.at, false);
      if (p === null) return;
      const { parent, key } = p;
      const target = parent[key];
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) target[x.key] = structuredClone(x.value);
      else parent[key] = { [x.key]: structuredClone(x.value) };
    })
    .with({ op: 'duplicate' }, (x) => {
      states.splice(x.j % states.length, 0, structuredClone(states[x.i % states.length] as Json));
    })
    .with({ op: 'drop' }, (x) => {
      states.splice(x.i % states.length, 1);
    })
    .with({ op: 'swap' }, (x) => {
      const i = x.i % states.length;
      const j = x.j % states.length;
      [states[i], states[j]] = [states[j] as Json, states[i] as Json];
    })
    .exhaustive();
}

function render(t: Json, m: TextMutation): string {
  // Deep nesting is spliced in as text: building it as a value would take a recursion as deep to write out.
  let text = JSON.stringify(t, null, m.op === 'none' ? undefined : 1).replace(new RegExp(`"${DEEP}(\\d+)"`, 'g'), (_s, n: string) => `${'{"a":['.repeat(Number(n))}1${']}'.repeat(Number(n))}`);
  const at = 'at' in m ? Math.floor(m.at * text.length) : 0;
  if (m.op === 'truncate') text = text.slice(0, at);
  if (m.op === 'bom') text = `\uFEFF${text}`;
  if (m.op === 'crlf') text = text.replace(/\n/g, '\r\n');
  if (m.op === 'insert') text = text.slice(0, at) + m.text + text.slice(at);
  if (m.op === 'replace') text = text.slice(0, at) + m.text + text.slice(at + m.text.length);
  return text;
}

// Control characters (C0, DEL, C1) and the Unicode line separators: none may reach a terminal from the replay.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

describe('the replay, on mutated committed traces', () => {
  test(`${INPUTS} inputs: a verdict, or one printable line and exit 2; never an exception`, () => {
    const file = join(tmp, 'input.itf.json');
    const counts = new Map<number, number>();
    fc.assert(
      fc.property(
        fc.nat(traces.length - 1), fc.array(mutation, { minLength: 1, maxLength: 2 }), textMutation,
        fc.constantFrom<readonly string[]>([], [], ['--check-states'], ['--check-states'], ['--model', 'ssp'], ['--model', 'npt', '--check-states']),
        fc.nat(9),
        (which, mutations, textual, options, disk) => {
          const original = seeds[which] as (typeof seeds)[number];
          const t = JSON.parse(original.text) as Json;
          for (const m of mutations) apply(t, original, m);
          const text = render(t, textual);
          // One input in ten through a real file (writing each costs more than replaying it); the others from memory.
          if (disk === 0) writeFileSync(file, text);
          const r = runReplay([file, ...options], disk === 0 ? undefined : () => text);
          counts.set(r.exitCode, (counts.get(r.exitCode) ?? 0) + 1);
          if (r.exitCode === 2) {
            expect(r.stdout).toBe('');
            expect(r.stderr.split('\n')).toHaveLength(1);
            expect(r.stderr).toMatch(/^replay: \S/);
            expect(r.stderr).not.toMatch(UNPRINTABLE);
          } else {
            expect([0, 1, 3]).toContain(r.exitCode);
            expect(r.stderr).toBe('');
            for (const line of r.stdout.split('\n')) expect(line).not.toMatch(UNPRINTABLE);
          }
        },
      ),
      { numRuns: INPUTS, seed: fastCheckSeed(seed) },
    );
    console.log(`${FILE}: exit codes ${[...counts].sort().map(([c, n]) => `${c}: ${n}`).join(', ')}`);
    // Not vacuous: most inputs are refused, and some still replay to a verdict.
    expect(counts.get(2) ?? 0).toBeGreaterThan(INPUTS / 2);
    expect((counts.get(0) ?? 0) + (counts.get(1) ?? 0) + (counts.get(3) ?? 0)).toBeGreaterThan(INPUTS / 50);
  }, 120_000);

  test('every committed trace replays unchanged: the checks refuse nothing they wrote', () => {
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.itf.json'))) {
      expect(runReplay([join(dir, f), '--check-states']).exitCode, f).toBe(1);
    }
  }, 60_000);
});

describe('bad options: one line and exit 2, in every command line', () => {
  const oneLine = (name: string, main: Main, argv: readonly string[]): string => {
    const io = bufferIo();
    const code = execute(name, main, argv, io);
    expect(code, `${name} ${argv.join(' ')}`).toBe(2);
    expect(io.stdout).toEqual([]);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).not.toMatch(UNPRINTABLE);
    return io.stderr[0] as string;
  };

  test.each([
    [['--model', ''], /--model names nothing/],
    [['--model', ',,'], /--model names nothing/],
    [['--model', 'npt,,tsp'], /empty name/],
    [['--runs', '-1'], /--runs must be a positive integer.*'-1'/],
    [['--runs', '0'], /--runs must be a positive integer/],
    [['--runs', '1e3'], /--runs must be a positive integer/],
    [['--steps', 'abc'], /--steps must be a positive integer/],
    [['--seed', '-891899762'], /--seed must be an integer from 0 to 4294967295.*'-891899762'/],
    [['--seed', '4294967296'], /--seed must be an integer from 0 to 4294967295/],
    [['--seed', '1.5'], /--seed must be an integer/],
    [['--runs', '5', '--runs', '6'], /'--runs' is given twice/],
    [['--list', '--list'], /'--list' is given twice/],
    [['--runs'], /'--runs' needs a value/],
    [['--list=yes'], /'--list' takes no value/],
    [['--nope'], /unknown option '--nope'/],
    [['stray'], /unexpected argument 'stray'/],
    [['--variant', 'nope'], /unknown variant 'nope'/],
    [['--property', 'refinement,refinement'], /names 'refinement' twice/],
    [['--harts', '5'], /--harts 5: from 1 to 4 harts/],
    [['--harts', '0'], /--harts must be a positive integer/],
    [['--harts-runs', 'x'], /--harts-runs must be a positive integer/],
    [['--harts', '1', '--variant', 'tsp-flush-current-hart-only'], /several-hart variant: it needs --harts 2 or more/],
    [['--seed', '\u001b[2J'], /\\u001b/],
  ])('npm start -- %j', (argv, message) => {
    expect(oneLine('ssp-spec', startMain, argv)).toMatch(message);
  }, 60_000);

  test.each([
    [['--scenarios', '-5'], /--scenarios must be a positive integer.*'-5'/],
    [['--seed', '-1'], /--seed must be an integer from 0 to 4294967295/],
    [['--batch', '0'], /--batch must be a positive integer/],
    [['--mutation', 'nope'], /unknown mutation 'nope'/],
    [['--seed', '1', '--seed', '2'], /given twice/],
  ])('npm run conformance -- %j', (argv, message) => {
    expect(oneLine('conformance', conformanceMain, argv)).toMatch(message);
  }, 60_000);

  test.each([
    [['abc'], /SEEDS .* must be a positive integer.*'abc'/],
    [['-3'], /must be a positive integer.*'-3'/],
    [['2', 'no-such-variant'], /unknown variant 'no-such-variant'/],
  ])('npm run bench:detection -- %j', (argv, message) => {
    expect(oneLine('bench:detection', detectionMain, argv)).toMatch(message);
  }, 60_000);

  test.each([
    [['--depth', '0'], /--depth must be a positive integer/],
    [['--depth', '13'], /--depth 13: at most 12/],
    [['--config', 'nope'], /unknown configuration 'nope' \(known: default, wide, svadu, harts, small\)/],
    [['--model', 'x'], /unknown model 'x'/],
    [['--model', 'ssp,ssp'], /--model names 'ssp' twice/],
    [['--variant', 'x'], /unknown variant 'x'/],
    [['--variant', 'ssp-no-sync-on-va-fence', '--model', 'ssp'], /cannot be used together/],
    [['--harts', '5'], /--harts 5: from 1 to 4 harts/],
    [['--harts', '2', '--out', 'x.json'], /--out is for one hart/],
    [['--shard', '3/2'], /--shard '3\/2' is not I\/N/],
    [['--shard', '0/2'], /is not I\/N/],
    [['--shard', 'a'], /is not I\/N/],
    [['stray'], /unexpected argument 'stray'/],
    [['--merge'], /--merge needs the report files/],
    [['--merge', '--depth', '3', 'a.json'], /--merge takes only report files, not --depth/],
    [['--merge', '/nonexistent.json'], /\/nonexistent.json: cannot be read/],
  ])('npm run exhaustive -- %j', (argv, message) => {
    expect(oneLine('exhaustive', exhaustiveMain, argv)).toMatch(message);
  }, 60_000);

  test.each([
    [['f.itf.json', '--model', 'ssp', '--variant', 'ssp-no-sync-on-va-fence'], /cannot be used together/],
    [['f.itf.json', '--model', 'x'], /unknown model 'x'/],
    [['f.itf.json', '--variant', 'x'], /unknown variant 'x'/],
    [['f.itf.json', '--check-states', '--check-states'], /given twice/],
    [[], /expected one file, got 0/],
    [['/nonexistent.itf.json'], /cannot read \/nonexistent.itf.json: ENOENT/],
  ])('npm run replay -- %j', (argv, message) => {
    const r = runReplay(argv);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  }, 60_000);

  test('the suite\'s environment variables: a bad value is one clear error', () => {
    for (const [name, raw] of [['SSP_SPEC_CONFORMANCE', 'abc'], ['SSP_SPEC_RUNS', '-1'], ['SSP_SPEC_STEPS', '0x']] as const) {
      expect(() => envCount(name, 1, { [name]: raw })).toThrow(BadValueError);
      expect(() => envCount(name, 1, { [name]: raw })).toThrow(new RegExp(`^${name} must be a positive integer .*'${raw}'$`));
    }
    expect(() => envSeed('SSP_SPEC_SEED', { SSP_SPEC_SEED: '-5' })).toThrow(/^SSP_SPEC_SEED must be an integer from 0 to 4294967295/);
    expect(envCount('SSP_SPEC_CONFORMANCE', 7, { SSP_SPEC_CONFORMANCE: '' })).toBe(7);
  }, 60_000);

  test('colour only on a terminal with NO_COLOR unset or empty', () => {
    expect(colorWanted({ isTTY: true }, {})).toBe(true);
    expect(colorWanted({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(colorWanted({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorWanted({ isTTY: false }, {})).toBe(false);
    expect(colorWanted({}, {})).toBe(false);
  }, 60_000);
});

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command line as a process; with `lines`, close its stdout once that many lines came (`| head -n`; 0: at once). */
function run(args: readonly string[], opts: { lines?: number; env?: Record<string, string> } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (opts.lines !== undefined && stdout.split('\n').length > opts.lines) child.stdout.destroy();
    });
    if (opts.lines === 0) child.stdout.destroy();
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A trace long enough that its table overflows a pipe's buffer: the committed actions repeated, on the correct model (which passes). */
function longTrace(steps: number): string {
  const t = structuredClone(traces.find((x) => JSON.stringify(x).includes('ssp-no-sync-on-va-fence')) as { '#meta': Record<string, Json>; states: Json[] });
  const [boot, ...rest] = t.states;
  t.states = [boot as Json, ...Array.from({ length: steps }, (_x, i) => ({ ...(rest[i % rest.length] as Record<string, Json>), '#meta': { index: i + 1 }, step: i + 1 }))];
  t['#meta'].variant = 'none';
  t['#meta'].violation = { step: steps, message: 'none' };
  const file = join(tmp, 'long.itf.json');
  writeFileSync(file, JSON.stringify(t));
  return file;
}

describe('as processes', () => {
  // Started together, when the file is collected: each pays tsx's start-up, and they overlap the in-process tests.
  const ran = {
    listClosed: run(['cli/main.ts', '--list'], { lines: 0 }),
    replayHead: run(['cli/replay.ts', longTrace(400)], { lines: 1, env: { NO_COLOR: '1', FORCE_COLOR: '1' } }),
    startBadSeed: run(['cli/main.ts', '--seed', '-891899762']),
  };

  test('a closed stdout (| head) ends quietly: exit 0, nothing on stderr', async () => {
    for (const r of [await ran.listClosed, await ran.replayHead]) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
  }, 60_000);

  test('piped output under NO_COLOR has no escape codes (FORCE_COLOR notwithstanding)', async () => {
    const r = await ran.replayHead;
    expect(r.stdout).toMatch(/✓/);
    expect(r.stdout).not.toContain('\u001b');
  }, 60_000);

  test('a bad option is one line on stderr and exit 2', async () => {
    const r = await ran.startBadSeed;
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ssp-spec: --seed must be an integer from 0 to 4294967295 \(decimal or 0x hex\), got '-891899762'\n$/);
  }, 60_000);
});
