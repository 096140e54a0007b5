/**
 * A validated trace (counterexamples/replay.ts's loadTrace) packed for the page:
 * see viewer/payload.ts for the form and why. Linear in the trace: each state's
 * memory is compared with the last recorded one word by word, and every other
 * variable with the previous state's by its JSON text.
 */
import type { ItfState, ItfValue } from '../counterexamples/itf.ts';
import type { LoadedTrace } from '../counterexamples/replay.ts';
import { match } from 'ts-pattern';
import { describeSbiCall } from '../spec/sbi.ts';
import { describeEvent } from '../properties/run.ts';
import { type MemoryDelta, type MemoryWord, PAYLOAD_VERSION, PLAIN_VARS, type PackedState, type Payload, type PlainVar } from './payload.ts';

type MemoryJson = { readonly '#map': readonly (readonly [{ readonly '#bigint': string }, { readonly '#bigint': string }])[] };

/** The change from `prev` (address -> word, decimal strings) to the memory `m` records. */
function memoryDelta(prev: ReadonlyMap<string, string>, m: MemoryJson): { delta: MemoryDelta; next: Map<string, string> } {
  const next = new Map<string, string>();
  const set: MemoryWord[] = [];
  for (const [k, v] of m['#map']) {
    // The schema allows leading zeros nowhere ("0" or [1-9]…), so equal numbers are equal strings.
    const addr = k['#bigint'];
    const word = v['#bigint'];
    next.set(addr, word);
    if (prev.get(addr) !== word) set.push([addr, word]);
  }
  const del: string[] = [];
  for (const addr of prev.keys()) if (!next.has(addr)) del.push(addr);
  return { delta: { set, del }, next };
}

/** Step `j` (0: the first after boot) in words, as the replay describes it: an event, or with several harts a step on its hart. */
function described(t: LoadedTrace, j: number): string {
  if (t.harts === null) {
    const event = t.events[j];
    return event === undefined ? 'boot' : describeEvent(event);
  }
  const st = t.harts.steps[j];
  if (st === undefined) return 'boot';
  return match(st)
    .with({ kind: 'guest' }, (x) => describeEvent(x.action))
    .with({ kind: 'host' }, (x) => describeEvent(x.event))
    .with({ kind: 'sbi' }, (x) => describeSbiCall(x.call))
    .exhaustive();
}

/** The trace as the page reads it; `file` is the name the page shows. */
export function packTrace(t: LoadedTrace, file: string): Payload {
  let memory: ReadonlyMap<string, string> = new Map();
  const previous = new Map<PlainVar, string>();
  const states = t.states.map((st: ItfState, i): PackedState => {
    const values: { [v in PlainVar]?: ItfValue } = {};
    const same: PlainVar[] = [];
    for (const v of PLAIN_VARS) {
      const x = st[v] as ItfValue | undefined;
      if (x === undefined) {
        previous.delete(v);
        continue;
      }
      const json = JSON.stringify(x);
      if (previous.get(v) === json) same.push(v);
      else values[v] = x;
      previous.set(v, json);
    }
    const action = st.action as ItfValue;
    const recorded = (action as { readonly text?: unknown }).text;
    const text = typeof recorded === 'string' ? recorded : i === 0 ? 'boot' : described(t, i - 1);
    const packed: PackedState = { action, text, described: typeof recorded !== 'string', values, same };
    const m = st.guestMemory as MemoryJson | undefined;
    if (m === undefined) return packed;
    const { delta, next } = memoryDelta(memory, m);
    memory = next;
    return { ...packed, memory: delta };
  });
  return { version: PAYLOAD_VERSION, file, meta: t.meta as unknown as { readonly [k: string]: ItfValue }, states };
}
