/**
 * `npm run view -- FILE [--out FILE.html] [--serve]`: draw a counterexample trace
 * as one self-contained HTML page (viewer/html.ts: scripts, styles and the trace
 * inlined, no network) and print its path; by default the page goes to
 * viewer/out/NAME.html (not committed). `--serve` serves it on 127.0.0.1 at a free
 * port instead and prints the address, until interrupted. The file is read and
 * checked as `npm run replay` reads it: a file it refuses is refused here with the
 * same one-line reason (exit 2).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { basename, dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TraceError } from '../counterexamples/itf.ts';
import { readTraceFile } from '../counterexamples/replay.ts';
import { viewerHtml } from '../viewer/html.ts';
import { type Main, UsageError, execute, isMain, oneFile, parseOptions, runCommand } from './command.ts';
import { type Io, bufferIo, printable } from './output.ts';

const USAGE = 'usage: npm run view -- FILE.itf.json [--out FILE.html] [--serve]';

/** Where pages go unless --out says: git-ignored, beside the viewer. */
export const DEFAULT_OUT_DIR = fileURLToPath(new URL('../viewer/out/', import.meta.url));

/** The default page for a trace: its name without `.itf.json` (or `.json`), `.html`, in viewer/out/. */
export const defaultOut = (file: string): string => resolve(DEFAULT_OUT_DIR, `${basename(file).replace(/(\.itf)?\.json$/i, '')}.html`);

/** A path as the user reads it: relative to the working directory when it lies under it. */
function shownPath(path: string): string {
  const r = relative(process.cwd(), path);
  return r !== '' && !r.startsWith('..') && !r.startsWith('/') ? r : path;
}

/** Serve one page on 127.0.0.1 at a free port; `listening` is told the address. */
export function servePage(html: string, listening: (url: string) => void): Server {
  const body = Buffer.from(html, 'utf8');
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (req.url !== '/' && req.url !== '/index.html') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: this server serves one page, at /\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    if (a !== null && typeof a === 'object') listening(`http://127.0.0.1:${a.port}/`);
  });
  return server;
}

/** The view command; `read` gives a file's text, `serve` stands in for the server in tests. */
export const viewCommand = (read: (file: string) => string = readTraceFile, serve: (html: string, io: Io) => void = serveUntilInterrupted): Main =>
  (argv, io) => viewMain(argv, io, read, serve);

function serveUntilInterrupted(html: string, io: Io): void {
  const server = servePage(html, (url) => io.out(`serving on ${url} (Ctrl-C stops)`));
  server.on('error', (e: NodeJS.ErrnoException) => {
    io.err(`view: cannot serve on 127.0.0.1: ${e.code ?? e.message}`);
    process.exitCode = 2;
  });
  process.once('SIGINT', () => server.close());
}

function viewMain(argv: readonly string[], io: Io, read: (file: string) => string, serve: (html: string, io: Io) => void): number {
  const { values, positionals } = parseOptions(argv, {
    out: { type: 'string' },
    serve: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, true);
  if (values.help === true) {
    io.out(USAGE);
    return 0;
  }
  const file = oneFile(positionals, USAGE);
  if (values.out !== undefined && values.serve === true) throw new UsageError('--out and --serve cannot be used together: --serve writes no file');
  if (values.out === '') throw new UsageError('--out needs a file name');
  const { html } = viewerHtml(file, read);
  if (values.serve === true) {
    serve(html, io);
    return 0;
  }
  const out = values.out === undefined ? defaultOut(file) : resolve(values.out);
  try {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, html);
  } catch (e) {
    throw new UsageError(`cannot write ${printable(shownPath(out))}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  io.out(shownPath(out));
  return 0;
}

/** The view command run in this process (for tests): its exit code and what it printed. */
export function runView(argv: readonly string[], read?: (file: string) => string, serve?: (html: string, io: Io) => void): { exitCode: number; stdout: string; stderr: string } {
  const io = bufferIo();
  const exitCode = execute('view', viewCommand(read, serve), argv, io, [TraceError]);
  return { exitCode, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}

export const runViewCommand = (): void => runCommand('view', viewCommand(), [TraceError]);

if (isMain(import.meta.url)) runViewCommand();
