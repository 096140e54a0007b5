/**
 * The viewer without a browser: packing a trace and unpacking it in the page's
 * own code gives back every recorded value; PTE words and TLB lines are read as
 * the spec reads them; a step's analysis finds what the seeded bugs leave stale;
 * what a trace leaves out is said, not drawn wrong; several harts are read each
 * on its own (its TLB against its own step before, the fences that reached it, the
 * harts an SBI call names); the HTML file cannot be broken out of by the trace's
 * text; and the command draws what replay reads and refuses what replay refuses.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadTrace } from '../counterexamples/replay.ts';
import { runReplay } from '../cli/replay.ts';
import { runView, servePage } from '../cli/view.ts';
import { pageHtml } from './html.ts';
import { packTrace } from './pack.ts';
import { PAYLOAD_VERSION, PLAIN_VARS, type Payload } from './payload.ts';
import { analyse } from './page/analysis.ts';
import { guestTree } from './page/guest-tables.ts';
import { decodePte, outcomeInWords } from './page/pte.ts';
import { failingStep, summarise } from './page/timeline.ts';
import { parseTlbLine } from './page/tlb.ts';
import { TraceData } from './page/trace-data.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SEEDED = join(ROOT, 'counterexamples', 'seeded');
const TRACES = readdirSync(SEEDED).filter((f) => f.endsWith('.itf.json')).sort();
const seeded = (name: string): string => join(SEEDED, name);

type Big = { readonly '#bigint': string };
type RawState = { readonly [v: string]: unknown; readonly guestMemory?: { readonly '#map': readonly (readonly [Big, Big])[] } };
type RawTrace = { '#meta': { [k: string]: unknown }; states: RawState[] };
const raw = (name: string): RawTrace => JSON.parse(readFileSync(seeded(name), 'utf8')) as RawTrace;
/**
 * A several-hart trace pinned for the drawing tests (viewer/fixtures/): as the models wrote it once, so
 * that these tests stay put when a model or a property changes which trace the seeded variant gives.
 */
const fixture = (name: string): RawTrace => JSON.parse(readFileSync(join(ROOT, 'viewer', 'fixtures', name), 'utf8')) as RawTrace;
const dataOf = (t: RawTrace, file = 'test.itf.json'): TraceData => new TraceData(packTrace(loadTrace(file, () => JSON.stringify(t)), file));

describe('packing', () => {
  it.each(TRACES)('%s: every state unpacks to the values it records', (name) => {
    const t = raw(name);
    const data = dataOf(t);
    expect(data.count).toBe(t.states.length);
    t.states.forEach((st, k) => {
      for (const v of PLAIN_VARS) expect(data.value(k, v), `state ${k} ${v}`).toEqual(st[v]);
      const mem = data.memory(k);
      const want = new Map((st.guestMemory?.['#map'] ?? []).map(([a, w]) => [BigInt(a['#bigint']), BigInt(w['#bigint'])] as const));
      expect(mem === null ? null : new Map(mem)).toEqual(st.guestMemory === undefined ? null : want);
    });
    expect(failingStep(data)).toBe((t['#meta'].violation as { step: number }).step);
  });

  it('a state that leaves variables out unpacks as not recorded, and the page says what it does not draw', () => {
    const t = raw('ssp-no-sync-on-va-fence.itf.json');
    const states = t.states.map((s, k) => {
      if (k !== 3) return s;
      const { guestMemory: _m, tables: _t, tlb: _l, ...rest } = s;
      return rest;
    });
    const data = dataOf({ ...t, states });
    expect(data.value(3, 'tables')).toBeUndefined();
    expect(data.memory(3)).toBeNull();
    // The states either side still unpack whole: the memory change is taken against the last state that recorded it.
    expect(data.memory(4)).toEqual(dataOf(t).memory(4));
    const v = analyse(data, 3);
    expect(v.notDrawn.join('\n')).toMatch(/does not record guest memory/);
    expect(v.notDrawn.join('\n')).toMatch(/does not record tables/);
    expect(v.notDrawn.join('\n')).toMatch(/does not record the TLB/);
    expect(analyse(data, 4).notDrawn.join('\n')).toMatch(/recorded in only one of steps 3 and 4/);
  });

  it('memory rebuilt at any step, in any order, is the changes applied in order (checkpoints and the kept ones agree)', () => {
    const word = fc.bigInt({ min: 0n, max: 7n });
    const delta = fc.record({ set: fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), word), { maxLength: 4 }), del: fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 2 }), skip: fc.boolean() });
    fc.assert(fc.property(fc.array(delta, { minLength: 1, maxLength: 700 }), fc.array(fc.nat(), { maxLength: 30 }), (deltas, asks) => {
      const expected: (Map<bigint, bigint> | null)[] = [];
      const mem = new Map<bigint, bigint>();
      const payload: Payload = {
        version: PAYLOAD_VERSION, file: 'x', meta: {},
        states: deltas.map((d, k) => {
          const base = { action: { kind: 'init' }, text: '', described: false, values: {}, same: [] };
          if (d.skip && k > 0) {
            expected.push(null);
            return base;
          }
          const set = d.set.map(([a, w]) => [String(a * 8), String(w)] as const);
          const del = d.del.map((a) => String(a * 8)).filter((a) => mem.has(BigInt(a)) && !set.some(([s]) => s === a));
          for (const [a, w] of set) mem.set(BigInt(a), BigInt(w));
          for (const a of del) mem.delete(BigInt(a));
          expected.push(new Map(mem));
          return { ...base, memory: { set, del } };
        }),
      };
      const data = new TraceData(payload);
      for (const a of asks) {
        const k = a % deltas.length;
        const got = data.memory(k);
        expect(got === null ? null : new Map(got)).toEqual(expected[k]);
      }
    }), { numRuns: 60, seed: 12 });
  });

  it('refuses a payload of another version, saying so', () => {
    expect(() => new TraceData({ version: PAYLOAD_VERSION + 1, file: 'x', meta: {}, states: [] })).toThrow(/payload version/);
  });
});

describe('decoding', () => {
  it('reads PTE words by the spec bits: pointer, leaf, reserved', () => {
    const p = decodePte(0x20004401n);
    expect([p.kind, p.ppn, p.flags.filter(([, on]) => on).map(([f]) => f).join('')]).toEqual(['pointer', 0x80011n, 'V']);
    const l = decodePte(0x201000c7n);
    expect([l.kind, l.ppn, l.flags.filter(([, on]) => on).map(([f]) => f).join('')]).toEqual(['leaf', 0x80400n, 'VRWAD']);
    expect(decodePte(0x20004405n)).toMatchObject({ kind: 'invalid', why: 'W without R is reserved' });
    expect(decodePte(0n)).toMatchObject({ kind: 'invalid' });
    expect(decodePte(0n).why).toBeUndefined();
  });

  it('reads every TLB line form, and keeps an unknown one raw', () => {
    expect(parseTlbLine('1 L0 prefix=0x80001 [0x300002008]=0x601000c7')).toMatchObject({ kind: 'walk', stage: 'shadow', tag: '1', level: 0, from: 0x80001000n, pteAddr: 0x300002008n, word: 0x601000c7n });
    expect(parseTlbLine('global L2 prefix=0x100 [0x300000800]=0xc0000401')).toMatchObject({ stage: 'shadow', tag: 'global', from: 0xffffffc000000000n });
    expect(parseTlbLine('VS 3 L1 prefix=0x1 [0x80011008]=0x20004801')).toMatchObject({ stage: 'VS', tag: '3', level: 1, from: 0x200000n });
    expect(parseTlbLine('G vmid=1 L1 prefix=0x400 [0x300004020]=0x200000cf')).toMatchObject({ stage: 'G', tag: '1', from: 0x80000000n });
    expect(parseTlbLine('combined 1 va=0x80001000 gpa=0x80400000')).toMatchObject({ kind: 'combined', va: 0x80001000n, gpa: 0x80400000n });
    expect(parseTlbLine('something else')).toEqual({ kind: 'raw', line: 'something else' });
  });

  it('says outcomes in words', () => {
    expect(outcomeInWords('ok pa=0x80400000')).toBe('reaches guest-physical 0x80400000');
    expect(outcomeInWords('fault 15 tval=0x80001000')).toBe('store/AMO page fault (cause 15), tval 0x80001000');
    expect(outcomeInWords('fault 13 tval=0x1 A/D@0x80012008=0x201000c7')).toBe('load page fault (cause 13), tval 0x1, setting A/D: [0x80012008] <- 0x201000c7');
  });

  it("draws the guest's tables from satp's root, each shared table once", () => {
    const mem = new Map<bigint, bigint>([[0x80010008n, 0x20004401n], [0x80010010n, 0x20004401n], [0x80011000n, 0x201004c7n]]);
    const t = guestTree(mem, 0x80010n);
    expect(t.entries.map((e) => [e.slot, e.child === undefined ? null : e.child.ppn, e.seen ?? null])).toEqual([[1, 0x80011n, null], [2, null, 0x80011n]]);
    expect(t.entries[0]?.child?.entries[0]?.note).toBe('misaligned 2 MiB superpage (page fault)');
  });
});

describe('a step analysed', () => {
  it('ssp-no-sync-on-va-fence: the store at step 5 is not allowed, and the shadow leaf built before the guest changed its PTE is stale past the fence', () => {
    const data = dataOf(raw('ssp-no-sync-on-va-fence.itf.json'));
    const v = analyse(data, 5);
    expect(v.ok).toBe(false);
    expect(v.violation).toMatch(/is not allowed/);
    expect(v.stale.map((s) => [s.holder, s.since, s.fences])).toEqual([['sp 0x300002 [1]', 3, [4]]]);
    expect(v.changes.some((c) => c.area === 'tlb' && c.added)).toBe(true);
    expect(v.notDrawn).toEqual([]);
    expect(summarise(data, 5).events.map((e) => e.kind)).toEqual(['violation', 'bad']);
    expect(summarise(data, 4).events.map((e) => e.kind)).toContain('fence');
  });

  it.each(TRACES)('%s: every step is analysed with nothing left undrawn', (name) => {
    const data = dataOf(raw(name));
    for (let k = 0; k < data.count; k++) expect(analyse(data, k).notDrawn, `step ${k}`).toEqual([]);
  });
});

describe('several harts', () => {
  const HARTS = TRACES.filter((name) => raw(name)['#meta'].harts !== undefined);

  it('the seeded several-hart traces are here to be drawn', () => {
    expect(HARTS.length).toBeGreaterThanOrEqual(6);
  });

  it.each(TRACES)('%s: the timeline names the hart of every step of a several-hart trace, and none of a one-hart trace', (name) => {
    const t = raw(name);
    const data = dataOf(t);
    expect(t.states.map((_s, k) => summarise(data, k).hart)).toEqual(t.states.map((s, k) => (k === 0 || t['#meta'].harts === undefined ? null : s.hart)));
  });

  it('npt-hfence-gvma-local-only: hart 0 remaps, and hart 1, which its HFENCE.GVMA missed, still caches the G-stage entry of the old frame', () => {
    const v = analyse(dataOf(raw('npt-hfence-gvma-local-only.itf.json')), 3);
    expect(v.hart).toBe(0);
    expect(v.tlb).toBeNull();
    expect(v.harts?.map((h) => [h.hart, h.stepping, h.tlb?.length, h.loaded, h.unsync])).toEqual([[0, true, 0, null, null], [1, false, 7, null, null]]);
    expect(v.stale.map((x) => [x.holder, x.source, x.since])).toEqual([['hart 1 TLB G vmid=1 L1 prefix=0x402 [0x300004010]=0x601000df', 'G-stage 0x300004 [2]', 3]]);
    expect(v.notDrawn).toEqual([]);
  });

  it("ssp-shadow-keyed-by-asid: each hart is compared with itself, each root's tree drawn with its harts, both harts loading one shadow", () => {
    const data = dataOf(fixture('ssp-shadow-keyed-by-asid.itf.json'));
    const tlbHarts = (k: number): (number | null)[] => [...new Set(analyse(data, k).changes.flatMap((c) => (c.area === 'tlb' ? [c.hart] : [])))];
    expect([tlbHarts(3), tlbHarts(4)]).toEqual([[0], [1]]);
    const v = analyse(data, 4);
    expect(v.guestRoots.map((g) => [g.root, g.harts])).toEqual([[0x80013n, [1]], [0x80010n, [0]]]);
    expect(v.harts?.map((h) => h.loaded)).toEqual(['sp 0x300000', 'sp 0x300000']);
    expect(analyse(data, 2).changes.filter((c) => c.area === 'state').map((c) => (c.area === 'state' ? c.text : ''))).toEqual([
      'hart 1: guest satp is now Sv39 asid=1 root=0x80013',
      'hart 1 has loaded sp 0x300000',
    ]);
  });

  it('an SBI call: the harts its mask names and its range, read by the spec, and a fence of each hart it names', () => {
    const data = dataOf(fixture('ssp-no-sync-on-sbi-remote-fence.itf.json'));
    const v = analyse(data, 4);
    expect(v.sbi).toMatchObject({ fn: 'sbi_remote_sfence_vma', harts: [0, 1], range: '0x80002000..0x80002fff', asid: null, error: 0, value: 0n });
    expect(summarise(data, 4).events).toContainEqual({ kind: 'sbi', text: 'SBI fence → harts 0, 1' });
    expect([data.fencesBetween(0, 5, 0), data.fencesBetween(0, 5, 1)]).toEqual([[4], [4]]);
    expect(analyse(data, 3).sbi).toBeNull();
  });

  it('a several-hart file written before every hart was recorded: the stepping hart is drawn, and the page says the others are not', () => {
    const t = raw('npt-hfence-gvma-local-only.itf.json');
    const { harts: _h, ...meta } = t['#meta'];
    const old = dataOf({ ...t, '#meta': { ...meta, harts: 2 }, states: t.states.map(({ harts: _x, ...s }) => s) });
    const v = analyse(old, 3);
    expect(v.harts?.map((h) => [h.hart, h.stepping])).toEqual([[0, true]]);
    expect(v.notDrawn).toEqual(["this state records the TLB and satp of hart 0 only (a trace written before every hart's state was recorded): the other harts are not drawn"]);
  });

  it("a step whose action has no text is described as the replay describes it, an SBI call included", () => {
    const t = fixture('ssp-no-sync-on-sbi-remote-fence.itf.json');
    const states = t.states.map((s, k) => (k === 4 ? { ...s, action: { ...(s.action as object), text: undefined } } : s));
    const packed = packTrace(loadTrace('x', () => JSON.stringify({ ...t, states })), 'x').states[4];
    expect([packed?.text, packed?.described]).toEqual(['sbi_remote_sfence_vma(0x0, 0xffffffffffffffff, 0x80002000, 0x1000)', true]);
  });
});

describe('the HTML file', () => {
  it("cannot be closed early by the trace's text, and names no address outside itself", () => {
    const t = raw('tsp-no-hw-tlb-flush.itf.json');
    const file = '</script><script>alert(1)</script><!--';
    const html = pageHtml(packTrace(loadTrace('x', () => JSON.stringify(t)), file));
    expect(html.match(/<\/script/gi)?.length).toBe(2);
    expect(html).toContain('<title>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;!-- ·');
    expect(html).toMatch(/Content-Security-Policy" content="default-src 'none'/);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
  });
});

describe('npm run view', () => {
  it('refuses a trace with the same one-line reason as replay, exit 2', () => {
    const t = raw('tsp-no-hw-tlb-flush.itf.json');
    const bad = JSON.stringify({ ...t, states: t.states.map((s, k) => (k === 1 ? { ...s, step: 7 } : s)) });
    const view = runView(['bad.itf.json'], () => bad);
    const replay = runReplay(['bad.itf.json'], () => bad);
    expect(view.exitCode).toBe(2);
    expect(view.stderr).toBe(replay.stderr.replace(/^replay:/, 'view:'));
    expect(view.stderr.split('\n')).toHaveLength(1);
    expect(runView(['missing.itf.json']).stderr).toBe('view: cannot read missing.itf.json: ENOENT');
    expect(runView([]).exitCode).toBe(2);
    expect(runView(['a', '--serve', '--out', 'b']).stderr).toMatch(/cannot be used together/);
  });

  it("draws a several-hart trace (its harts in the payload), and refuses a bad one with the replay's one line, exit 2", () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssp-view-'));
    try {
      const out = join(dir, 'harts.html');
      expect(runView([seeded('npt-hfence-gvma-local-only.itf.json'), '--out', out])).toMatchObject({ exitCode: 0, stdout: out });
      const payload = JSON.parse(/<script type="application\/json" id="trace">(.*)<\/script>/.exec(readFileSync(out, 'utf8'))?.[1] ?? 'null') as Payload;
      expect([payload.meta.harts, payload.states[1]?.values.hart, payload.states[3]?.values.hart]).toEqual([2, 1, 0]);
      expect(new TraceData(payload).value(3, 'harts')).toEqual(raw('npt-hfence-gvma-local-only.itf.json').states[3]?.harts);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const t = raw('ssp-no-sync-on-sbi-remote-fence.itf.json');
    const bad = JSON.stringify({ ...t, states: t.states.map((s, k) => (k === 2 ? { ...s, hart: 2 } : s)) });
    const view = runView(['bad.itf.json'], () => bad);
    expect(view.exitCode).toBe(2);
    expect(view.stderr).toBe('view: state 2: hart 2 is out of range (#meta.harts is 2: harts 0 to 1)');
    expect(view.stderr).toBe(runReplay(['bad.itf.json'], () => bad).stderr.replace(/^replay:/, 'view:'));
  });

  it('writes the page where --out says and prints its path; --serve hands it to the server', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssp-view-'));
    try {
      const out = join(dir, 'sub', 'page.html');
      const r = runView([seeded('tsp-no-hw-tlb-flush.itf.json'), '--out', out]);
      expect(r).toMatchObject({ exitCode: 0, stdout: out });
      expect(readFileSync(out, 'utf8')).toMatch(/^<!doctype html>/);
      let served = '';
      expect(runView([seeded('tsp-no-hw-tlb-flush.itf.json'), '--serve'], undefined, (html) => (served = html)).exitCode).toBe(0);
      expect(served).toBe(readFileSync(out, 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves the page on 127.0.0.1 at a free port, and nothing else', async () => {
    const url = await new Promise<string>((resolve) => {
      const server = servePage('<p>page</p>', resolve);
      after.push(() => new Promise((done) => server.close(() => done())));
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(url);
    expect([page.status, page.headers.get('content-type'), await page.text()]).toEqual([200, 'text/html; charset=utf-8', '<p>page</p>']);
    expect((await fetch(`${url}other`)).status).toBe(404);
    for (const f of after.splice(0)) await f();
  });
});

const after: (() => Promise<void>)[] = [];
