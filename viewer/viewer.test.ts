/**
 * The viewer in a real browser: Debian's headless Chromium, driven by
 * playwright-core pointed at the system binary (no browser download). Every
 * committed seeded trace is drawn, opened from disk and checked: no console
 * error, no request leaves the file, it opens at the failing step, shows the
 * violation and the PTE words the trace holds there, and steps with the keyboard.
 * A screenshot per trace goes to viewer/screenshots/ (git-ignored), the artefact
 * a reader looks at when this test fails in CI.
 *
 * Without Chromium the test is skipped, with one line saying which package brings it
 * (CHROMIUM_PATH names another binary); with SSP_SPEC_REQUIRE_CHROMIUM=1, as in CI, it fails instead.
 */
import { HART_VARIANTS } from '../model/vcpu-variants.ts';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, test } from 'vitest';
import { viewerHtml } from './html.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SEEDED = join(ROOT, 'counterexamples', 'seeded');
const SHOTS = join(ROOT, 'viewer', 'screenshots');
// The viewer draws one-hart traces; it refuses several-hart ones (checked below) and the replay shows them.
const TRACES = readdirSync(SEEDED).filter((f) => f.endsWith('.itf.json') && !HART_VARIANTS.some((v) => f === `${v.name}.itf.json`)).sort();
const HART_TRACES = HART_VARIANTS.map((v) => `${v.name}.itf.json`);

test.each(HART_TRACES)('%s: the viewer refuses a several-hart trace with one line pointing to the replay', (name) => {
  expect(() => viewerHtml(`counterexamples/seeded/${name}`)).toThrow(/does not draw traces of several harts yet \(npm run replay -- /);
});

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
  readonly violation?: string;
  readonly guestSatp?: { readonly mode: string; readonly root?: Big };
  readonly guestMemory?: { readonly '#map': readonly (readonly [Big, Big])[] };
  readonly tables?: { readonly [record: string]: { readonly [field: string]: unknown } };
  readonly tlb?: readonly string[];
}

/** The PTE words the failing state holds: every table entry (and the guest word it mirrors), every TLB word, every word of the guest's root table. */
function wordsAt(st: RawState): Set<string> {
  const words = new Set<string>();
  for (const rec of Object.values(st.tables ?? {})) {
    for (const [field, v] of Object.entries(rec)) if (/^\[\d+\]( guest)?$/.test(field) && isBig(v)) words.add(hex(v));
  }
  for (const line of st.tlb ?? []) {
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

  // One trace after another: pages at once only contend for the cores (measured: slower on two).
  it.each(TRACES)('%s: opens at the failing step, shows its violation and PTE words, steps with the keyboard', async (name) => {
    problems.length = 0;
    const stepShown = async (): Promise<number> => Number(await page.getAttribute('#step', 'data-step'));
    const press = async (key: string, expected: number): Promise<void> => {
      await page.keyboard.press(key);
      await page.waitForSelector(`#step[data-step="${expected}"]`);
    };
    const file = join(SEEDED, name);
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { '#meta': { violation: { step: number; message: string } }; states: RawState[] };
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
    await page.screenshot({ path: join(SHOTS, name.replace(/\.itf\.json$/, '.png')) });
    const digests = [`step ${failing} ${await drawn()}`];

    await press('Home', 0);
    digests.push(`step 0 ${await drawn()}`);
    if (last > 0) {
      await press('ArrowRight', 1);
      digests.push(`step 1 ${await drawn()}`);
      await press('End', last);
      digests.push(`step ${last} ${await drawn()}`);
      await press('ArrowLeft', last - 1);
      digests.push(`step ${last - 1} ${await drawn()}`);
    }
    pages.set(name, digests);
    expect(problems).toEqual([]);
  }, HANG);

  // After the traces above, in this order (a file's tests run one after another).
  it('draws every one-hart trace as the committed digests say (after an intended change to the page: npx vitest run -u viewer/viewer.test.ts)', async () => {
    expect([...pages.keys()]).toEqual(TRACES);
    const text = TRACES.map((name) => `${name}: ${(pages.get(name) ?? []).join(', ')}`).join('\n');
    await expect(`${text}\n`).toMatchFileSnapshot('./golden/one-hart-pages.txt');
  });
});
