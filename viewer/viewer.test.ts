/**
 * The viewer in a real browser: Debian's headless Chromium, driven by
 * playwright-core pointed at the system binary (no browser download). Every
 * committed seeded trace is drawn, opened from disk and checked: no console
 * error, no request leaves the file, it opens at the failing step, shows the
 * violation and the PTE words the trace holds there (every hart's TLB included),
 * and steps with the keyboard. A several-hart trace also shows the hart of every
 * step, each hart's own state with the stepping hart marked, the stale entry of the
 * hart its violation names, and the harts each SBI call fences. A one-hart trace is
 * drawn exactly as the committed digests say. A trace whose test fails leaves a
 * screenshot in viewer/screenshots/ (git-ignored), the artefact a reader looks at
 * when this test fails in CI.
 *
 * Without Chromium the test is skipped, with one line saying which package brings it
 * (CHROMIUM_PATH names another binary); with SSP_SPEC_REQUIRE_CHROMIUM=1, as in CI, it fails instead.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { selectHarts } from '../spec/sbi.ts';
import { viewerHtml } from './html.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SEEDED = join(ROOT, 'counterexamples', 'seeded');
const SHOTS = join(ROOT, 'viewer', 'screenshots');
const ALL = readdirSync(SEEDED).filter((f) => f.endsWith('.itf.json')).sort();
const severalHarts = (name: string): boolean => (JSON.parse(readFileSync(join(SEEDED, name), 'utf8')) as { '#meta': { harts?: number } })['#meta'].harts !== undefined;
/** The one-hart traces, whose pages are pinned by digests. */
const TRACES = ALL.filter((f) => !severalHarts(f));

/** The system's Chromium: CHROMIUM_PATH if it is set (and then only it), else where Debian and Ubuntu put it. */
const CANDIDATES = process.env.CHROMIUM_PATH !== undefined ? [process.env.CHROMIUM_PATH] : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
const CHROMIUM = CANDIDATES.find((p) => p !== '' && existsSync(p));
const NO_CHROMIUM = "no Chromium found (Debian's package `chromium` brings it: apt-get install chromium)";
/** CI sets this, so that a missing browser fails the run instead of passing it untested. */
const REQUIRED = process.env.SSP_SPEC_REQUIRE_CHROMIUM === '1';
if (CHROMIUM === undefined && !REQUIRED) console.warn(`viewer browser test skipped: ${NO_CHROMIUM}`);

/** Only a hang ends this test: a loaded machine may take many times as long as a quiet one. */
const HANG = 120_000;

type Big = { readonly '#bigint': string };
const isBig = (v: unknown): v is Big => v !== null && typeof v === 'object' && '#bigint' in v;
const hex = (v: Big): string => `0x${BigInt(v['#bigint']).toString(16)}`;

interface RawState {
  readonly hart?: number;
  readonly action: { readonly kind: string; readonly hartMask?: Big; readonly hartMaskBase?: Big };
  readonly harts?: readonly { readonly tlb: readonly string[] }[];
  readonly violation?: string;
  readonly guestSatp?: { readonly mode: string; readonly root?: Big };
  readonly guestMemory?: { readonly '#map': readonly (readonly [Big, Big])[] };
  readonly tables?: { readonly [record: string]: { readonly [field: string]: unknown } };
  readonly tlb?: readonly string[];
}

/** The PTE words the failing state holds: every table entry (and the guest word it mirrors), every TLB word (every hart's), every word of the guest's root table. */
function wordsAt(st: RawState): Set<string> {
  const words = new Set<string>();
  for (const rec of Object.values(st.tables ?? {})) {
    for (const [field, v] of Object.entries(rec)) if (/^\[\d+\]( guest)?$/.test(field) && isBig(v)) words.add(hex(v));
  }
  for (const line of [...(st.tlb ?? []), ...(st.harts ?? []).flatMap((h) => h.tlb)]) {
    const w = /\]=(0x[0-9a-f]+)$/.exec(line)?.[1];
    if (w !== undefined) words.add(w);
  }
  const root = st.guestSatp?.root;
  if (root !== undefined) {
    const base = BigInt(root['#bigint']) << 12n;
    for (const [a, w] of st.guestMemory?.['#map'] ?? []) {
      const addr = BigInt(a['#bigint']);
      if (addr >= base && addr < base + 4096n && w['#bigint'] !== '0') words.add(hex(w));
    }
  }
  return words;
}

describe.runIf(CHROMIUM === undefined && REQUIRED)('the viewer in Chromium, required (SSP_SPEC_REQUIRE_CHROMIUM=1)', () => {
  it('finds Chromium', () => {
    throw new Error(NO_CHROMIUM);
  });
});

describe.skipIf(CHROMIUM === undefined)('the viewer in Chromium', () => {
  let browser: Browser;
  let dir: string;
  // One page for every trace (a new page costs as much as drawing a trace), noting every console
  // error or warning, page error and request off the file; each test empties the list first.
  let page: Page;
  const problems: string[] = [];

  async function openPage(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(HANG);
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) problems.push(`request to ${r.url()}`);
    });
    return page;
  }

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: HANG });
    page = await openPage();
    dir = mkdtempSync(join(tmpdir(), 'ssp-viewer-'));
    mkdirSync(SHOTS, { recursive: true });
  }, HANG);

  afterAll(async () => {
    await browser?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }, HANG);

  /**
   * What the page drew, as the browser holds it: every element's tag and classes and
   * every text, indented by depth (no styles or layout, which a browser update may
   * change without the page changing), as a digest.
   */
  const drawn = async (): Promise<string> => {
    const dump = await page.$eval('#app', (app) => {
      const lines: string[] = [];
      const walk = (n: Node, depth: number): void => {
        if (n.nodeType === Node.TEXT_NODE) {
          const t = (n.textContent ?? '').trim();
          if (t !== '') lines.push(`${' '.repeat(depth)}"${t}"`);
          return;
        }
        if (!(n instanceof Element)) return;
        lines.push(`${' '.repeat(depth)}${n.tagName.toLowerCase()}${[...n.classList].map((c) => `.${c}`).join('')}`);
        n.childNodes.forEach((c) => walk(c, depth + 1));
      };
      walk(app, 0);
      return lines.join('\n');
    });
    return createHash('sha256').update(dump).digest('hex').slice(0, 16);
  };
  /** For each one-hart trace, the digests of the steps drawn (the failing one, the first, the second, the last and the one before it). */
  const pages = new Map<string, string[]>();

  const press = async (key: string, expected: number): Promise<void> => {
    await page.keyboard.press(key);
    await page.waitForSelector(`#step[data-step="${expected}"]`);
  };

  /**
   * A several-hart trace at its failing step: every step of the timeline names its hart,
   * the harts table has a row per hart with the stepping one marked, the hart an
   * isolation violation names (`hart N: …`, a hart other than the stepping one) shows a
   * stale TLB entry, and every SBI call shows the harts it names (spec/sbi.ts's reading of its mask).
   */
  async function checkHarts(raw: { '#meta': { harts?: number; check?: string; violation: { step: number; message: string } }; states: RawState[] }): Promise<void> {
    const harts = raw['#meta'].harts ?? 0;
    const failing = raw['#meta'].violation.step;
    const badges = await page.$$eval('.tl-step', (els) => els.map((e) => e.querySelector('.hart')?.textContent ?? null));
    expect(badges).toEqual(raw.states.map((s, k) => (k === 0 ? null : `hart ${String(s.hart)}`)));
    expect(await page.$$eval('#harts tr[data-hart]', (rows) => rows.map((r) => [r.getAttribute('data-hart'), r.classList.contains('current')]))).toEqual(
      Array.from({ length: harts }, (_, h) => [String(h), h === raw.states[failing]?.hart]),
    );
    // An isolation failure names the hart whose cached translation is stray: another hart than the stepping one.
    const named = raw['#meta'].check === 'isolation' ? /^hart (\d+): /.exec(raw['#meta'].violation.message)?.[1] : undefined;
    if (named !== undefined) {
      expect(Number(named)).not.toBe(raw.states[failing]?.hart);
      expect(await page.$(`#harts tr.stale[data-hart="${named}"]`), `hart ${named} marked stale`).not.toBeNull();
      expect(await page.$(`#hart-${named} tr.stale`), `a stale entry in hart ${named}'s TLB`).not.toBeNull();
    }
    const sbiSteps = raw.states.flatMap((s, k) => (s.action.kind === 'sbi' ? [k] : []));
    for (const k of sbiSteps) {
      await press('Home', 0);
      for (let j = 1; j <= k; j++) await press('ArrowRight', j);
      const a = raw.states[k]?.action;
      const sel = selectHarts(BigInt(a?.hartMask?.['#bigint'] ?? '0'), BigInt(a?.hartMaskBase?.['#bigint'] ?? '0'), harts);
      expect(await page.$$eval('#sbi .hart', (els) => els.map((e) => e.textContent))).toEqual([
        `hart ${String(raw.states[k]?.hart)}`,
        ...(sel.kind === 'harts' ? sel.harts.map((h) => `hart ${h}`) : []),
      ]);
    }
  }

  // One trace after another: pages at once only contend for the cores (measured: slower on two).
  it.each(ALL)('%s: opens at the failing step, shows its violation and PTE words, steps with the keyboard', async (name) => {
    problems.length = 0;
    const stepShown = async (): Promise<number> => Number(await page.getAttribute('#step', 'data-step'));
    const file = join(SEEDED, name);
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { '#meta': { harts?: number; violation: { step: number; message: string } }; states: RawState[] };
    const failing = raw['#meta'].violation.step;
    const last = raw.states.length - 1;
    const out = join(dir, name.replace(/\.itf\.json$/, '.html'));
    writeFileSync(out, viewerHtml(`counterexamples/seeded/${name}`).html);

    await page.goto(pathToFileURL(out).href);
    // The page marks itself ready once its key listener is attached.
    await page.waitForSelector('body[data-ready="true"] #step');
    expect(await stepShown()).toBe(failing);

    const text = await page.innerText('#step');
    const violation = raw.states[failing]?.violation ?? '';
    expect(violation).not.toBe('');
    expect(await page.innerText('#violation')).toContain(violation);
    expect(await page.$('.tl-step.current.has-violation')).not.toBeNull();
    const missing = [...wordsAt(raw.states[failing] as RawState)].filter((w) => !text.includes(w));
    expect(missing, 'PTE words of the failing state not on the page').toEqual([]);
    expect(await page.$('#not-drawn')).toBeNull();
    // The screenshot is the artefact a reader looks at when the test fails (taking one for every trace cost a third of the file's time).
    onTestFailed(async () => {
      await page.screenshot({ path: join(SHOTS, name.replace(/\.itf\.json$/, '.png')) });
    });
    // A one-hart page is pinned by the digests of what it draws at these steps.
    const pinned = raw['#meta'].harts === undefined;
    const digests: string[] = [];
    const pin = async (k: number): Promise<void> => {
      if (pinned) digests.push(`step ${k} ${await drawn()}`);
    };
    await pin(failing);
    if (!pinned) await checkHarts(raw);

    await press('Home', 0);
    await pin(0);
    if (last > 0) {
      await press('ArrowRight', 1);
      await pin(1);
      await press('End', last);
      await pin(last);
      await press('ArrowLeft', last - 1);
      await pin(last - 1);
    }
    if (pinned) pages.set(name, digests);
    expect(problems).toEqual([]);
  }, HANG);

  // After the traces above, in this order (a file's tests run one after another).
  it('draws every one-hart trace as the committed digests say (after an intended change to the page: npx vitest run -u viewer/viewer.test.ts)', async () => {
    expect([...pages.keys()]).toEqual(TRACES);
    const text = TRACES.map((name) => `${name}: ${(pages.get(name) ?? []).join(', ')}`).join('\n');
    await expect(`${text}\n`).toMatchFileSnapshot('./golden/one-hart-pages.txt');
  });
});
