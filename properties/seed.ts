/**
 * Seeds and counts, read and written one way by every command line and test file.
 *
 * A seed is a non-negative 32-bit integer, 0..4294967295, drawn, printed,
 * recorded and accepted in that form (decimal or 0x hex). Signed seeds made
 * every run negative while bit 31 of the clock was set, and the printed
 * `--seed -891899762` could not be passed back: parseArgs reads it as an option.
 * fast-check takes a signed 32-bit seed: `fastCheckSeed` converts at the call,
 * so the value people see never changes.
 */

export const SEED_MAX = 0xffff_ffff;
/** fast-check's numRuns and the like are 32-bit signed: a larger count is a mistake, not a long run. */
export const COUNT_MAX = 0x7fff_ffff;

/** A value the user gave (an option, an environment variable) that cannot be used: the message is one line saying why. */
export class BadValueError extends Error {}

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const HEX = /^0[xX][0-9a-fA-F]+$/;

/** The raw text as it goes into a one-line message: quoted, control characters escaped, long input cut. */
export function quoted(raw: string): string {
  const cut = raw.length > 40 ? `${raw.slice(0, 40)}...` : raw;
  return `'${cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`;
}

/** A non-negative integer written in decimal or 0x hex, or null: no signs, spaces, exponents or fractions, which Number() would take. */
export function parseNatural(raw: string): number | null {
  if (!DECIMAL.test(raw) && !HEX.test(raw)) return null;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : null;
}

export function parseSeed(raw: string, what = '--seed'): number {
  const n = parseNatural(raw);
  if (n === null || n > SEED_MAX) throw new BadValueError(`${what} must be an integer from 0 to ${SEED_MAX} (decimal or 0x hex), got ${quoted(raw)}`);
  return n;
}

export function parseCount(raw: string, what: string, min = 1): number {
  const n = parseNatural(raw);
  if (n === null || n < min || n > COUNT_MAX) {
    throw new BadValueError(`${what} must be ${min === 1 ? 'a positive integer' : `an integer of at least ${min}`} (at most ${COUNT_MAX}), got ${quoted(raw)}`);
  }
  return n;
}

/** A fresh seed from the clock and Math.random, unsigned whatever bit 31 of the clock is. */
export function drawSeed(now: number = Date.now(), random: number = Math.random()): number {
  return (now ^ Math.floor(random * 0x1_0000_0000)) >>> 0;
}

/** The seed as fast-check takes it (a signed 32-bit int with the same bits). */
export const fastCheckSeed = (seed: number): number => seed | 0;

type Env = Readonly<Record<string, string | undefined>>;

/** A seed from the environment variable `name`, or a fresh one when it is unset or empty. */
export function envSeed(name: string, env: Env = process.env): number {
  const raw = env[name];
  return raw === undefined || raw === '' ? drawSeed() : parseSeed(raw, name);
}

/** A positive count from the environment variable `name`, or `fallback` when it is unset or empty. */
export function envCount(name: string, fallback: number, env: Env = process.env): number {
  const raw = env[name];
  return raw === undefined || raw === '' ? fallback : parseCount(raw, name);
}
