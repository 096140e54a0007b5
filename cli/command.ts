/**
 * What every command line here shares: a bad option or bad input is one line on
 * stderr and exit 2, never a stack trace; a closed stdout ends the command
 * quietly; anything else is a bug, reported as one (exit 70) so it is never read
 * as a verdict.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { match } from 'ts-pattern';
import { BadValueError, quoted } from '../properties/seed.ts';
import { type Io, OutputClosed, processIo } from './output.ts';

/** An error the user can fix: bad options or unreadable input. */
export class UsageError extends Error {}

/** Exit code for a bug in this program (sysexits' EX_SOFTWARE): distinct from every verdict. */
export const EXIT_BUG = 70;

type ErrorClass = abstract new (...a: never[]) => Error;
type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** The values parseArgs gives for `T` (no `multiple` options here: a repeated option is an error). */
export type OptionValues<T extends OptionsConfig> = { -readonly [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string };

/** parseArgs's messages run over up to three lines and quote the argument raw: one line of ours instead. */
function parseArgsMessage(e: Error & { code?: unknown }): string {
  const name = /'([^']*)'/.exec(e.message)?.[1] ?? '';
  const option = quoted(name.replace(/ <value>$/, ''));
  return match(String(e.code))
    .with('ERR_PARSE_ARGS_UNKNOWN_OPTION', () => `unknown option ${option}`)
    .with('ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL', () => `unexpected argument ${option}`)
    .with('ERR_PARSE_ARGS_INVALID_OPTION_VALUE', () =>
      e.message.includes('does not take an argument') ? `option ${option} takes no value` : `option ${option} needs a value`)
    .otherwise(() => (e.message.split('\n')[0] ?? 'bad arguments'));
}

const isParseArgsError = (e: unknown): e is TypeError & { code: string } =>
  e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS');

/** A comma-separated list of known names: an empty list or item would run nothing and report success, so both are refused. */
export function listOf<T extends string>(name: string, raw: string | undefined, known: readonly T[]): readonly T[] | null {
  if (raw === undefined) return null;
  const items = raw.split(',').map((s) => s.trim());
  if (items.every((s) => s === '')) throw new UsageError(`--${name} names nothing (known: ${known.join(', ')})`);
  const seen = new Set<string>();
  for (const item of items) {
    if (item === '') throw new UsageError(`--${name} has an empty name in '${raw}'`);
    if (!(known as readonly string[]).includes(item)) throw new UsageError(`unknown ${name} '${item}' (known: ${known.join(', ')})`);
    if (seen.has(item)) throw new UsageError(`--${name} names '${item}' twice`);
    seen.add(item);
  }
  return items as T[];
}

/** The one file a command takes as its positional argument, or a usage error saying how many it got. */
export function oneFile(positionals: readonly string[], usage: string): string {
  const [file] = positionals;
  if (positionals.length !== 1 || file === undefined) throw new UsageError(`expected one file, got ${positionals.length} (${usage})`);
  return file;
}

/**
 * parseArgs, strict, with what it lets through turned away: an option given twice
 * (it would keep the last silently), and a value starting with a dash read as an
 * option (`--seed -5` gets its own clear message from the value's check instead).
 */
export function parseOptions<T extends OptionsConfig>(argv: readonly string[], options: T, allowPositionals = false): { values: OptionValues<T>; positionals: string[] } {
  const args: string[] = [];
  // Positionals that look like negative numbers, held aside: parseArgs would take them for options.
  const held: string[] = [];
  const hold = (a: string): string => `\u0000${held.push(a) - 1}`;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    const name = a.startsWith('--') ? a.slice(2) : null;
    if (name !== null && options[name]?.type === 'string' && next !== undefined && /^-[0-9.]/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else if (allowPositionals && /^-[0-9.]/.test(a)) args.push(hold(a));
    else args.push(a);
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals, tokens: true });
  } catch (e) {
    if (isParseArgsError(e)) throw new UsageError(parseArgsMessage(e));
    throw e;
  }
  const positionals = parsed.positionals.map((p) => (p.startsWith('\u0000') ? (held[Number(p.slice(1))] ?? p) : p));
  const seen = new Set<string>();
  for (const t of parsed.tokens) {
    if (t.kind !== 'option') continue;
    if (seen.has(t.name)) throw new UsageError(`option '--${t.name}' is given twice`);
    seen.add(t.name);
  }
  return { values: parsed.values as OptionValues<T>, positionals };
}

export type Main = (argv: readonly string[], io: Io) => number;

/**
 * Run a command with `io` and return its exit code: bad input (UsageError,
 * BadValueError, or one of `expected`) is one line and 2; a closed stdout is 0.
 * Anything else propagates: it is a bug.
 */
export function execute(name: string, main: Main, argv: readonly string[], io: Io, expected: readonly ErrorClass[] = []): number {
  try {
    return main(argv, io);
  } catch (e) {
    if (e instanceof OutputClosed) return 0;
    if (e instanceof UsageError || e instanceof BadValueError || expected.some((c) => e instanceof c)) {
      io.err(`${name}: ${(e as Error).message.split('\n').join(' ')}`);
      return 2;
    }
    throw e;
  }
}

/** Run `main` on the process's arguments and set the exit code. */
export function runCommand(name: string, main: Main, expected: readonly ErrorClass[] = []): void {
  // A reader that goes away after the command has finished writing (the write was buffered) leaves exit 0 too.
  const io = processIo(() => {
    process.exitCode = 0;
  });
  try {
    process.exitCode = execute(name, main, process.argv.slice(2), io, expected);
  } catch (e) {
    // stdout's reader has gone: the command's output is no longer wanted, which is no failure.
    if (e instanceof OutputClosed) {
      process.exitCode = 0;
      return;
    }
    // A bug, not the user's input: keep the stack (it is what a report needs), and an exit code no verdict uses.
    process.stderr.write(`${name}: internal error (a bug in ssp-spec, not in the input): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = EXIT_BUG;
  }
}

/** Whether the module at `url` is the program node was started with (not imported by a test or another entry). */
export function isMain(url: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(url));
  } catch {
    return false;
  }
}
