/**
 * What every command line here shares: a bad option or bad input is one line on
 * stderr and exit 2, never a stack trace; anything else is a bug and propagates.
 */

/** An error the user can fix: bad options or unreadable input. */
export class UsageError extends Error {}

const isParseArgsError = (e: unknown): e is TypeError =>
  e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS');

/** Run `main` on the process's arguments and set the exit code; `expected` are the error classes that mean bad input. */
export function runCommand(name: string, main: (argv: readonly string[]) => number, expected: readonly (new (...a: never[]) => Error)[] = [], usage = ''): void {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError || isParseArgsError(e) || expected.some((c) => e instanceof c))) throw e;
    console.error(`${name}: ${(e as Error).message}${usage === '' ? '' : `\n${usage}`}`);
    process.exitCode = 2;
  }
}
