/**
 * What the viewer's HTML file embeds: a validated trace, packed so that a long
 * one stays small. The page (viewer/page/) unpacks it; viewer/pack.ts makes it.
 *
 * Two things make a trace large, and both repeat from step to step: the guest's
 * memory (every word, in every state) and the tables, TLB and counters (mostly
 * unchanged by a step). So memory is embedded as each state's change against the
 * last state that recorded it, and any other variable equal to the previous
 * state's is named in `same` instead of repeated. Values keep the trace's own
 * ITF form (`{"#bigint": "decimal"}`): the page decodes the words itself.
 */
import type { ItfValue } from '../counterexamples/itf.ts';

export type { ItfValue };

/** Payload format version: the page refuses a payload it was not built for (a stale HTML file opened by a newer page never happens, but a mismatch is said, not guessed). */
export const PAYLOAD_VERSION = 1;

/** A guest-memory word change: [address, word], both decimal strings as in the trace's `#bigint`. */
export type MemoryWord = readonly [string, string];

export interface MemoryDelta {
  /** Words written or changed since the last state that recorded memory (state 0: every word). */
  readonly set: readonly MemoryWord[];
  /** Addresses present there and absent here (decimal strings). */
  readonly del: readonly string[];
}

/**
 * The state variables other than step, action and guestMemory, as the schema names them
 * (`hart` and `harts` only in a several-hart trace).
 */
export const PLAIN_VARS = ['hart', 'priv', 'guestSatp', 'tables', 'tlb', 'harts', 'observation', 'allowed', 'traps', 'exits', 'violation'] as const;
export type PlainVar = (typeof PLAIN_VARS)[number];

export interface PackedState {
  /** The action as recorded (state 0: `{kind: "init"}`). */
  readonly action: ItfValue;
  /** What the action did in words: the recorded `text`, or, where the trace has none, the replay's own description of the decoded event. */
  readonly text: string;
  /** Whether `text` was made here because the trace has none. */
  readonly described: boolean;
  /** Variables this state records with a value different from the previous state's. */
  readonly values: { readonly [v in PlainVar]?: ItfValue };
  /** Variables this state records with the same value as the previous state (which recorded it too). */
  readonly same: readonly PlainVar[];
  /** Guest memory as a change, when the state records it. */
  readonly memory?: MemoryDelta;
}

export interface Payload {
  readonly version: number;
  /** The trace file's name, as given on the command line. */
  readonly file: string;
  /** The trace's `#meta`, as recorded. */
  readonly meta: { readonly [k: string]: ItfValue };
  readonly states: readonly PackedState[];
}
