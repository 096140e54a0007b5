/**
 * `npm run exhaustive` as a user runs it: a passing search prints its table and a
 * reproduce line and exits 0; a variant's failure is saved as a trace that
 * replays; shards written with --out merge into the whole search's verdict, and
 * a merge of reports that do not fit together is refused in one line.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { execute } from './command.ts';
import { bufferIo } from './output.ts';
import { main } from './exhaustive.ts';
import { runReplay } from './replay.ts';

const dir = mkdtempSync(join(tmpdir(), 'ssp-exhaustive-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (argv: readonly string[]) => {
  const io = bufferIo();
  const code = execute('exhaustive', main, argv, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
};

describe('npm run exhaustive', () => {
  test('a passing search: the table, the events, the verdict and a reproduce line; no colour off a terminal', () => {
    const r = run(['--config', 'small', '--depth', '4', '--model', 'ssp']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ssp .* 4 of 4 .* PASS/);
    expect(r.out).toMatch(/shadow-resync\s+\S+\s+[1-9]/);
    expect(r.out).toMatch(/every property holds on every program of up to 4 steps/);
    expect(r.out).toMatch(/reproduce: npm run exhaustive -- --depth 4 --config small --model ssp$/m);
    expect(r.out).not.toMatch(/\u001b\[/);
  });

  test('several harts: a several-hart variant fails with a shortest program of harts, saved as a several-hart trace that replays; options that need one hart are refused', () => {
    const r = run(['--harts', '2', '--depth', '3', '--variant', 'ssp-sync-state-shared-by-harts']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/every program of up to 3 steps of 2 harts over configuration harts/);
    expect(r.out).toMatch(/a shortest failing program \(2 steps\)/);
    expect(r.out).toMatch(/^ +0 +hart \d: /m);
    const file = /saved: (\S+)/.exec(r.out)?.[1];
    const trace = JSON.parse(readFileSync(file as string, 'utf8')) as { '#meta': { exhaustive?: unknown; harts?: number } };
    expect(trace['#meta']).toMatchObject({ exhaustive: { config: 'harts', depth: 3 }, harts: 2 });
    expect(runReplay([file as string]).exitCode).toBe(1);
    expect(runReplay([file as string, '--model', 'ssp']).exitCode).toBe(0);
    expect(r.out).toMatch(/reproduce: npm run exhaustive -- --depth 3 --config harts --variant ssp-sync-state-shared-by-harts --harts 2$/m);
    for (const [argv, message] of [
      [['--harts', '2', '--shard', '1/2'], /^exhaustive: --shard is for one hart/],
      [['--harts', '5'], /^exhaustive: --harts 5: from 1 to 4 harts$/],
      [['--variant', 'tsp-flush-current-hart-only'], /needs --harts 2 or more$/],
      [['--harts', '2', '--variant', 'ssp-no-sync-on-va-fence'], /^exhaustive: unknown several-hart variant 'ssp-no-sync-on-va-fence'/],
    ] as const) {
      const bad = run(argv);
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(message);
    }
  });

  test('a variant: exit 1, a shortest program, and a saved trace that fails on the variant when replayed', () => {
    const r = run(['--config', 'small', '--depth', '4', '--variant', 'ssp-no-sync-on-va-fence']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/a shortest failing program \(4 steps\)/);
    const file = /saved: (\S+)/.exec(r.out)?.[1];
    expect(file).toBeDefined();
    const trace = JSON.parse(readFileSync(file as string, 'utf8')) as { '#meta': { exhaustive?: unknown; variant: string } };
    expect(trace['#meta'].exhaustive).toEqual({ config: 'small', depth: 4 });
    expect(trace['#meta'].variant).toBe('ssp-no-sync-on-va-fence');
    expect(runReplay([file as string]).exitCode).toBe(1);
    expect(runReplay([file as string, '--model', 'ssp']).exitCode).toBe(0);
  });

  test('shards merge into the whole search\'s verdict: the shortest failure of any shard; a merge missing a shard or of a bad file is refused', () => {
    const files = [1, 2].map((i) => join(dir, `shard${i}.json`));
    const parts = files.map((out, i) => run(['--config', 'small', '--depth', '4', '--variant', 'ssp-no-sync-on-va-fence', '--shard', `${i + 1}/2`, '--out', out]));
    for (const p of parts) expect(p.code === 0 || p.code === 1).toBe(true);
    const merged = run(['--merge', ...files]);
    expect(merged.code).toBe(1);
    expect(merged.out).toMatch(/2 shards merged/);
    expect(merged.out).toMatch(/a shortest failing program \(4 steps, shard [12]\)/);

    expect(run(['--merge', files[0] as string]).err).toMatch(/shard 2\/2 is missing/);
    expect(run(['--merge', files[0] as string, files[0] as string]).err).toMatch(/shard 2\/2 is missing|given 2 times/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"format":"ssp-spec-exhaustive/1","config":"small"}');
    expect(run(['--merge', bad]).err).toMatch(/not an exhaustive report .*must have required property/);
    writeFileSync(bad, 'not json');
    expect(run(['--merge', bad]).err).toMatch(/not JSON/);
  });

  test('--list names every configuration, its pages and its events', () => {
    const r = run(['--list']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^config default: .*\(13 events\)$/m);
    expect(r.out).toMatch(/^ {2}pages: 0x80001000, 0x80201000$/m);
    expect(r.out).toMatch(/^ {2}sfence\.vma 0x80001000, asid 1$/m);
    expect(r.out).toMatch(/^config small: /m);
  });
});
