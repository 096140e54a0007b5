/**
 * How every command line here writes: lines to stdout and stderr through an `Io`,
 * so a command runs the same in a process and in a test (which collects the
 * lines); colour only where a person reads it; and nothing from the input
 * reaches the terminal as a control sequence.
 */
import { styleText as nodeStyleText } from 'node:util';

export interface Io {
  /** Whether stdout may carry ANSI colour. */
  readonly color: boolean;
  out(line: string): void;
  err(line: string): void;
}

/**
 * Colour only on a terminal and when NO_COLOR is unset or empty (https://no-color.org):
 * Node 20's util.styleText colours unconditionally, and cli-table3 colours its borders.
 */
export function colorWanted(stream: { readonly isTTY?: boolean } = process.stdout, env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR ?? '') === '';
}

export type Style = 'bold' | 'red' | 'green' | 'yellow';

export const paint = (io: { readonly color: boolean }, style: Style, text: string): string => (io.color ? nodeStyleText(style, text) : text);

/** util.styleText for this process's stdout: colour only where colorWanted says so. */
export const styleText = (style: Style, text: string): string => paint({ color: colorWanted() }, style, text);

/** cli-table3 options that keep its own colours off unless colour is wanted. */
export const tableStyle = (io: { readonly color: boolean }): { compact: boolean; head?: string[]; border?: string[] } =>
  io.color ? { compact: true } : { compact: true, head: [], border: [] };

// C0 and C1 controls (ESC and CSI among them), DEL, and the Unicode line and paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu;

/** Text from outside (a file, an argument) made safe to print on one line: control characters escaped. */
export const printable = (text: string): string =>
  text.replace(CONTROL, (c) => (c === '\n' ? '\\n' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));

/** Thrown by a write once stdout's reader has gone (`| head -1`): the command stops, quietly. */
export class OutputClosed extends Error {}

const isEpipe = (e: unknown): boolean => (e as NodeJS.ErrnoException | null)?.code === 'EPIPE';

/**
 * The process's stdout and stderr, written at once (progress lines must show as
 * they come; a caller with many lines joins them first). A closed pipe is not an
 * error of the command: a write that finds it closed throws OutputClosed (Node
 * reports a synchronous EPIPE on `errored`, an asynchronous one as an 'error'
 * event that would otherwise end in a stack trace).
 */
export function processIo(onClosed: () => void): Io {
  const quiet = (e: Error): void => {
    if (!isEpipe(e)) throw e;
    onClosed();
  };
  process.stdout.on('error', quiet);
  process.stderr.on('error', quiet);
  const write = (stream: NodeJS.WriteStream, text: string): void => {
    if (isEpipe(stream.errored)) throw new OutputClosed();
    stream.write(text);
    if (isEpipe(stream.errored)) throw new OutputClosed();
  };
  return {
    color: colorWanted(),
    out: (line) => write(process.stdout, `${line}\n`),
    // Every error line is printed as one line of printable text, whatever it quotes.
    err: (line) => write(process.stderr, `${printable(line)}\n`),
  };
}

/** An Io that keeps the lines, for running a command inside a test. */
export function bufferIo(): Io & { readonly stdout: string[]; readonly stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { color: false, stdout, stderr, out: (line) => stdout.push(line), err: (line) => stderr.push(printable(line)) };
}
