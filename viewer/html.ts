/**
 * The viewer's HTML file: the page (viewer/page/, Preact) bundled by esbuild's JS
 * API in this process, its stylesheet and the packed trace inlined, so that the
 * file opens from disk with no network. A Content-Security-Policy forbids every
 * fetch, so a page that tried one would fail visibly instead of working online only.
 */
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { readTraceFile, loadTrace } from '../counterexamples/replay.ts';
import { packTrace } from './pack.ts';
import type { Payload } from './payload.ts';

const ENTRY = fileURLToPath(new URL('./page/main.tsx', import.meta.url));

export interface PageBundle {
  readonly js: string;
  readonly css: string;
}

let cached: PageBundle | null = null;

/** The page's script and stylesheet, built once per process. */
export function bundlePage(): PageBundle {
  if (cached !== null) return cached;
  const r = buildSync({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    outdir: 'viewer-out',
    format: 'iife',
    platform: 'browser',
    // BigInt literals and `??`: every browser of the last five years.
    target: ['es2020'],
    minify: true,
    legalComments: 'none',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    charset: 'utf8',
    logLevel: 'silent',
  });
  const js = r.outputFiles.find((f) => f.path.endsWith('.js'))?.text;
  const css = r.outputFiles.find((f) => f.path.endsWith('.css'))?.text ?? '';
  if (js === undefined) throw new Error('esbuild produced no script for the viewer page');
  cached = { js, css };
  return cached;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

/** JSON inside a script element: `<` escaped so that no `</script>` (or `<!--`) in a string can end it. */
const scriptJson = (x: unknown): string => JSON.stringify(x).replace(/</g, '\\u003c');

const CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

/** The whole HTML file for a packed trace. */
export function pageHtml(payload: Payload, bundle: PageBundle = bundlePage()): string {
  // `</script` or `</style` inside the bundle (a string, a regular expression) would end the element early.
  const js = bundle.js.replace(/<\/(script)/gi, '<\\/$1');
  const css = bundle.css.replace(/<\/(style)/gi, '<\\/$1');
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(payload.file)} · ssp-spec trace viewer</title>`,
    `<style>${css}</style>`,
    '</head>',
    '<body>',
    '<div id="app"><p>This page draws a counterexample trace with JavaScript; it needs a browser with scripts enabled.</p></div>',
    `<script type="application/json" id="trace">${scriptJson(payload)}</script>`,
    `<script>${js}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Load, validate (as the replay does) and pack a trace file, and make its page. */
export function viewerHtml(file: string, read: (file: string) => string = readTraceFile): { html: string; payload: Payload } {
  const t = loadTrace(file, read);
  const payload = packTrace(t, file);
  return { html: pageHtml(payload), payload };
}
