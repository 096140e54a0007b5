/**
 * Several-hart counterexamples (counterexamples/harts-trace.ts): the format's
 * additions are refused with one line when wrong, one-hart files are untouched by
 * them (re-written byte for byte), a trace round-trips to the program it was built
 * from, `npm start`'s save keeps only evidence, and the replay shows each step's hart.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { findVariant } from '../model/variants.ts';
import { HART_VARIANTS } from '../model/vcpu-variants.ts';
import { MODELS } from '../model/models.ts';
import { VCPU_MODELS } from '../model/vcpus.ts';
import { sampleHartsPrograms } from '../properties/harts-commands.ts';
import { runHartsProgram } from '../properties/harts-run.ts';
import { checkHarts, hartsFailureLines, saveHartsFailure } from '../cli/harts-check.ts';
import { runReplay } from '../cli/replay.ts';
import { TraceError, parseTrace } from './itf.ts';
import { buildHartsTrace, minimiseHartsProgram, replayHartsTrace } from './harts-trace.ts';
import { loadTrace } from './replay.ts';
import { buildTrace } from './trace.ts';

const dir = new URL('./seeded/', import.meta.url).pathname;
const isHarts = (f: string): boolean => HART_VARIANTS.some((v) => f === `${v.name}.itf.json`);
const files = readdirSync(dir).filter((f) => f.endsWith('.itf.json')).sort();
const oneHart = files.filter((f) => !isHarts(f));
const severalHarts = files.filter(isHarts);
const text = (f: string): string => readFileSync(join(dir, f), 'utf8');

type Json = { [k: string]: unknown };
/** A committed several-hart trace as JSON, changed by `edit`, as text. */
function edited(file: string, edit: (t: Json & { '#meta': Json; states: Json[] }) => void): string {
  const t = JSON.parse(text(file)) as Json & { '#meta': Json; states: Json[] };
  edit(t);
  return JSON.stringify(t);
}
const refusal = (raw: string): string => {
  try {
    parseTrace(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(TraceError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('the file was accepted');
};

test('there is a several-hart committed trace for every several-hart variant', () => {
  expect(severalHarts).toEqual(HART_VARIANTS.map((v) => `${v.name}.itf.json`).sort());
});

describe('one-hart files are as they were', () => {
  test.each(oneHart)('%s is re-written byte for byte, with no hart field', (file) => {
    const t = loadTrace(join(dir, file));
    expect(t.harts).toBeNull();
    expect(t.meta.harts).toBeUndefined();
    expect(t.states.some((s) => 'hart' in s)).toBe(false);
    const v = t.meta.variant === 'none' ? null : findVariant(t.meta.variant);
    const trace = buildTrace({
      machine: v?.machine ?? MODELS[t.meta.model], variant: t.meta.variant, property: t.meta.property, guest: t.meta.guest, ad: t.meta.ad,
      events: t.events, seed: t.meta.seed, path: t.meta.path, universe: t.universe, ...(t.meta.exhaustive === undefined ? {} : { exhaustive: t.meta.exhaustive }),
    });
    expect(`${JSON.stringify(trace, null, 1)}\n`).toBe(text(file));
  });
});

describe('several-hart files', () => {
  const file = 'ssp-no-sync-on-sbi-remote-fence.itf.json';
  const sbiState = (t: { states: Json[] }): Json => {
    const st = t.states.find((s) => (s.action as Json).kind === 'sbi');
    if (st === undefined) throw new Error(`${file} has no SBI call`);
    return st;
  };

  test('a committed trace decodes to its steps, each on its hart, SBI calls with their arguments', () => {
    const t = parseTrace(text(file));
    expect(t.harts?.count).toBe(2);
    expect(t.events).toEqual([]);
    const sbi = t.harts?.steps.find((s) => s.kind === 'sbi');
    expect(sbi?.kind === 'sbi' ? sbi.call.kind : null).toMatch(/^remoteSfenceVma/);
    const raw = sbiState(JSON.parse(text(file)) as { states: Json[] });
    expect(raw.action).toHaveProperty('error', 0);
  });

  const cases: [string, string, RegExp][] = [
    ['harts above 4', edited(file, (t) => { t['#meta'].harts = 5; }), /^#meta\.harts must be an integer from 2 to 4/],
    ['harts of 1', edited(file, (t) => { t['#meta'].harts = 1; }), /^#meta\.harts must be an integer from 2 to 4/],
    ['harts missing, a several-hart variant', edited(file, (t) => { delete t['#meta'].harts; delete t['#meta'].check; }), /^#meta\.harts is missing: 'ssp-no-sync-on-sbi-remote-fence' is a several-hart variant$/],
    ['harts missing, no variant', edited(file, (t) => { delete t['#meta'].harts; delete t['#meta'].check; t['#meta'].variant = 'none'; for (const st of t.states) delete st.harts; }), /^state 1: hart is for a step of a several-hart trace \(#meta\.harts is missing\)$/],
    ['check missing', edited(file, (t) => { delete t['#meta'].check; }), /^#meta\.check is missing/],
    ['unknown check', edited(file, (t) => { t['#meta'].check = 'vibes'; }), /^#meta\.check must be one of refinement, determinism, justified-shadow, isolation, transparency, shadow-memory, hart-legality, no-lost-dirty, sbi-return, sbi-traps, livelock$/],
    ['hart out of range', edited(file, (t) => { (t.states[1] as Json).hart = 2; }), /^state 1: hart 2 is out of range \(#meta\.harts is 2: harts 0 to 1\)$/],
    ['hart above 3', edited(file, (t) => { (t.states[1] as Json).hart = 7; }), /^state 1: hart must be an integer from 0 to 3/],
    ['hart missing', edited(file, (t) => { delete (t.states[2] as Json).hart; }), /^state 2: hart is missing \(#meta\.harts is 2: every step names its hart\)$/],
    ['hart on the boot state', edited(file, (t) => { (t.states[0] as Json).hart = 0; }), /^state 0: hart is for a step of a several-hart trace \(state 0 is the boot state\)$/],
    ['unknown action', edited(file, (t) => { ((t.states[1] as Json).action as Json).kind = 'teleport'; }), /^state 1: action\.kind must be one of ptStore, .*hostUnprotect, sbi \(got 'teleport'\)$/],
    ['unknown SBI call', edited(file, (t) => { (sbiState(t).action as Json).call = 'remoteHfenceGvma'; }), /^state \d+: action\.call must be one of remoteSfenceVma, remoteSfenceVmaAsid$/],
    ['SBI call without an argument', edited(file, (t) => { delete (sbiState(t).action as Json).size; }), /^state \d+: action\.size is missing$/],
    ['SBI ASID call without its ASID', edited(file, (t) => { (sbiState(t).action as Json).call = 'remoteSfenceVmaAsid'; }), /^state \d+: action\.asid is missing \(needed for call remoteSfenceVmaAsid\)$/],
    ['SBI argument above 2^64', edited(file, (t) => { (sbiState(t).action as Json).startAddr = { '#bigint': '18446744073709551616' }; }), /^state \d+: action\.startAddr .*out of range/],
    ['a one-hart variant with harts', edited(file, (t) => { t['#meta'].variant = 'ssp-no-sync-on-va-fence'; }), /^#meta\.variant 'ssp-no-sync-on-va-fence' is a one-hart variant, but #meta\.harts is 2$/],
    ['hart states fewer than the harts', edited(file, (t) => { (t.states[2] as Json).harts = [((t.states[2] as Json).harts as Json[])[0], ((t.states[2] as Json).harts as Json[])[0], ((t.states[2] as Json).harts as Json[])[0]]; }), /^state 2: harts has 3 hart states, #meta\.harts is 2$/],
    ['one hart state', edited(file, (t) => { (t.states[2] as Json).harts = ((t.states[2] as Json).harts as Json[]).slice(0, 1); }), /^state 2: harts must have at least 2 items$/],
    ['a hart state with an unknown field', edited(file, (t) => { (((t.states[2] as Json).harts as Json[])[1] as Json).sum = true; }), /^state 2: harts\[1\] has an unknown field 'sum'$/],
    ['a hart state without its TLB', edited(file, (t) => { delete (((t.states[2] as Json).harts as Json[])[1] as Json).tlb; }), /^state 2: harts\[1\]\.tlb is missing$/],
    ['a hart state whose satp root is above 44 bits', edited(file, (t) => { (((t.states[2] as Json).harts as Json[])[0] as Json).guestSatp = { mode: 'sv39', asid: 1, root: { '#bigint': String(2n ** 44n) } }; }), /^state 2: harts\[0\]\.guestSatp\.root 0x100000000000 is out of range/],
  ];
  test.each(cases)('%s is refused with one line', (_name, raw, reason) => {
    expect(refusal(raw)).toMatch(reason);
  });

  test("every state records each hart's own state, and the stepping hart's is the state's own tlb and guestSatp", () => {
    for (const f of severalHarts) {
      const t = loadTrace(join(dir, f));
      t.states.forEach((st, i) => {
        const each = st.harts as readonly { readonly guestSatp: unknown; readonly tlb: readonly string[] }[];
        expect(each, `${f} state ${i}`).toHaveLength(t.harts?.count ?? 0);
        const own = each[i === 0 ? 0 : (st.hart as number)];
        expect([own?.tlb, own?.guestSatp], `${f} state ${i}`).toEqual([st.tlb, st.guestSatp]);
      });
    }
    // A remap on hart 0 whose HFENCE.GVMA reaches hart 0 alone: hart 1 still caches the G-stage entry of the old frame.
    const t = loadTrace(join(dir, 'npt-hfence-gvma-local-only.itf.json'));
    const last = t.states[t.states.length - 1] as { readonly hart?: unknown; readonly harts?: readonly { readonly tlb: readonly string[] }[] };
    expect(last.hart).toBe(0);
    expect(last.harts?.[1]?.tlb).toContain('G vmid=1 L1 prefix=0x402 [0x300004010]=0x601000df');
  });

  test('a file written before every hart was recorded (no harts variable) still loads and replays with its states', () => {
    const old = edited(file, (t) => {
      t.vars = (t.vars as string[]).filter((v) => v !== 'harts');
      for (const st of t.states) delete st.harts;
    });
    const r = runReplay(['old.itf.json', '--check-states'], () => old);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('violation reproduces at step');
  });

  test("the replay's changes column names the hart of every TLB and satp change, the remote hart's included", () => {
    const r = runReplay([join(dir, 'npt-hfence-gvma-local-only.itf.json')]);
    expect(r.exitCode).toBe(1);
    const changed = r.stdout.split('\n').map((l) => l.split('│').pop()?.trim() ?? '');
    expect(changed).toContain('+ hart 1 guestSatp root = 0x80010');
    expect(changed).toContain('+ hart 1 tlb G vmid=1 L1 prefix=0x402 [0x300004010]=0x601000df');
    expect(changed.filter((c) => /^[+~-] tlb /.test(c))).toEqual([]);
  });

  test('a one-hart file may not name a hart or make an SBI call', () => {
    const one = oneHart[0] ?? '';
    const withHart = JSON.parse(text(one)) as { states: Json[] };
    (withHart.states[1] as Json).hart = 0;
    expect(refusal(JSON.stringify(withHart))).toMatch(/^state 1: hart is for a step of a several-hart trace \(#meta\.harts is missing\)$/);
    const withSbi = JSON.parse(text(one)) as { states: Json[] };
    (withSbi.states[1] as Json).action = sbiState(JSON.parse(text(file)) as { states: Json[] }).action;
    expect(refusal(JSON.stringify(withSbi))).toMatch(/^state 1: action\.kind 'sbi' is for a several-hart trace/);
    const withHarts = JSON.parse(text(one)) as { states: Json[] };
    (withHarts.states[1] as Json).harts = (JSON.parse(text(file)) as { states: Json[] }).states[1]?.harts;
    expect(refusal(JSON.stringify(withHarts))).toMatch(/^state 1: harts is for a several-hart trace \(#meta\.harts is missing\)$/);
  });
});

test('a trace built from a failing program decodes to that program and replays to the same failure', () => {
  const v = HART_VARIANTS.find((x) => x.name === 'ssp-no-sync-on-sbi-remote-fence');
  if (v === undefined) throw new Error('no variant');
  // A program with SBI calls that fails on the variant, minimised as npm run counterexamples does.
  const failing = sampleHartsPrograms(3, 200, 7, 30).find((p) => runHartsProgram(v.machine, p).violation !== null);
  if (failing === undefined) throw new Error('no sampled program fails on the variant');
  const program = minimiseHartsProgram(v.machine, failing);
  const trace = buildHartsTrace({ machine: v.machine, variant: v.name, program, seed: 7, path: '' });
  const t = parseTrace(JSON.stringify(trace));
  expect(t.harts).toEqual({ count: 3, steps: program.steps });
  const r = replayHartsTrace(t, v.machine, { checkStates: true });
  expect(r.violation?.step).toBe(program.steps.length - 1);
  expect(r.mismatch).toBeNull();
  expect(replayHartsTrace(t, VCPU_MODELS.ssp).violation).toBeNull();
});

describe('npm start saves a several-hart failure, and the replay shows each hart', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ssp-spec-harts-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test('a failing check is saved and printed with its replay line', () => {
    const v = HART_VARIANTS.find((x) => x.name === 'tsp-flush-current-hart-only');
    if (v === undefined) throw new Error('no variant');
    const c = checkHarts('tsp', 2, 50, 1, v);
    expect(c.verdict).toBe('fail');
    const saved = saveHartsFailure(c, tmp);
    expect(saved?.saved).toBe(true);
    const file = saved?.saved === true ? saved.file : '';
    const lines = hartsFailureLines(c, saved);
    expect(lines).toContain(`replay: npm run replay -- ${file}`);
    expect(lines.join('\n')).not.toContain('not saved');
    const t = loadTrace(file);
    expect(t.meta.harts).toBe(2);
    expect(t.meta.variant).toBe(v.name);
    expect(replayHartsTrace(t, v.machine).violation?.step).toBe(t.meta.violation.step - 1);
  });

  test('replay: the hart column, and the exit codes 1, 0, 3 and 2', () => {
    const f = join(dir, 'ssp-shadow-keyed-by-asid.itf.json');
    const r = runReplay([f, '--check-states']);
    expect(r.exitCode).toBe(1);
    const [, head, , ...rows] = r.stdout.split('\n');
    expect(head).toMatch(/^ +# │ hart │ action/);
    const steps = loadTrace(f).harts?.steps ?? [];
    const firstCells = rows.filter((l) => /^ +\d+ │/.test(l)).map((l) => l.split('│').map((x) => x.trim()));
    expect(firstCells.map((c) => Number(c[1]))).toEqual(steps.map((s) => s.hart));
    expect(r.stdout).toContain('violation reproduces at step');
    expect(runReplay([f, '--model', 'ssp']).exitCode).toBe(0);
    const tampered = edited('ssp-shadow-keyed-by-asid.itf.json', (t) => { (t.states[1] as Json).tlb = ['made up']; });
    const m = runReplay(['x.itf.json', '--check-states'], () => tampered);
    expect(m.exitCode).toBe(3);
    expect(m.stdout).toContain("recorded state differs: state 1: 'tlb'");
    expect(runReplay(['x.itf.json'], () => edited('ssp-shadow-keyed-by-asid.itf.json', (t) => { (t.states[1] as Json).hart = 9; })).exitCode).toBe(2);
    expect(runReplay([f, '--variant', 'ssp-no-sync-on-va-fence']).exitCode).toBe(2);
  });
});
