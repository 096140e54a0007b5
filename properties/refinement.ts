/**
 * Every guest-visible outcome (load value, store effect, fault cause and stval) is in the reference's allowed set.
 *
 * Store effects are compared as memory: after every step the guest's view of
 * memory (host memory through the p2m) equals the reference's. Only pages that
 * can differ are compared, so the fold remembers the pages the program has written,
 * and the memories last found equal.
 */
import { PAGE_SHIFT, hex } from '../spec/address.ts';
import { type Memory, pageWords, readWord } from '../spec/memory.ts';
import type { ReferenceState } from '../spec/reference.ts';
import { type HostState, hostMapping } from '../model/host.ts';
import { commonFloors } from './floors.ts';
import { ALL_FRAMES } from './pools.ts';
import { ALL_MODELS, STEP_SCOPE, property } from './property.ts';
import { type AccessRecord, type StepRecord, unfollowable } from './record.ts';

export const refinement = property({
  name: 'refinement',
  sentence: 'Every guest-visible outcome (load value, store effect, fault cause and stval) is in the reference\'s allowed set.',
  models: ALL_MODELS,
  guests: 'arbitrary',
  floors: commonFloors,
  scope: STEP_SCOPE,
  start: (): Compared => ({ written: new Set(ALL_FRAMES), equal: null }),
  // `equal` is a shortcut: memories found equal once compare equal again.
  key: (s) => s.written,
  step: (s, r) => {
    if (r.access !== null) {
      const m = unfollowable(r.access) ?? outcomeNotAllowed(r.access, r.refBefore);
      if (m !== null) return { violation: m };
    }
    const written = withWritten(s.written, r);
    if (r.refAfter === null) return { state: { written, equal: s.equal } };
    const now: Memories = { ref: r.refAfter.mem, host: r.hostAfter.mem, p2m: r.hostAfter.p2m, backs: r.hostAfter.backs };
    // Memory is persistent: with the same objects on both sides and no page added, the pages are as equal as they were.
    if (written === s.written && s.equal !== null && sameMemories(now, s.equal)) return { state: s };
    const m = memoryMismatch(r.refAfter, r.hostAfter, written);
    return m === null ? { state: { written, equal: now } } : { violation: m };
  },
});

/** The pages written so far, and the memories (the reference's, and the host's with its p2m) last found equal on them. */
interface Compared {
  readonly written: ReadonlySet<bigint>;
  readonly equal: Memories | null;
}

interface Memories {
  readonly ref: Memory;
  readonly host: Memory;
  readonly p2m: HostState['p2m'];
  readonly backs: HostState['backs'];
}

const sameMemories = (a: Memories, b: Memories): boolean => a.ref === b.ref && a.host === b.host && a.p2m === b.p2m && a.backs === b.backs;

function outcomeNotAllowed(a: AccessRecord, refBefore: ReferenceState): string | null {
  if (a.reached.kind !== 'guest') return null;
  const { observation: obs, outcome, key } = a.reached;
  if (a.match === undefined) return `${key} is not allowed; allowed: ${a.allowedKeys.join('; ')}`;
  if (obs.kind === 'ok' && outcome.kind === 'ok' && a.action.access !== 'store') {
    const expected = readWord(refBefore.mem, outcome.pa & ~7n);
    if (obs.value !== expected) return `loaded ${hex(obs.value)} from ${hex(outcome.pa)}, memory holds ${hex(expected)}`;
  }
  return null;
}

/** The pages written so far, with the one this step may have written (a new set only when it grows). */
function withWritten(written: ReadonlySet<bigint>, r: StepRecord): ReadonlySet<bigint> {
  const e = r.event;
  const reached = r.access?.reached;
  const page = e.kind === 'ptStore' ? e.addr >> PAGE_SHIFT
    : e.kind === 'hostRemap' ? e.gpn
    : e.kind === 'access' && e.access === 'store' && reached?.kind === 'guest' && reached.outcome.kind === 'ok' ? reached.outcome.pa >> PAGE_SHIFT
    : null;
  return page === null || written.has(page) ? written : new Set([...written, page]);
}

/**
 * The guest's view of memory (through the p2m) must equal the reference's, page
 * by page, on the pool's pages and every page a step has written (the others
 * cannot change, and comparing them all would make a step's cost grow with memory).
 */
function memoryMismatch(ref: ReferenceState, host: HostState, pages: ReadonlySet<bigint>): string | null {
  for (const gpn of pages) {
    const want = pageWords(ref.mem, gpn);
    const got = pageWords(host.mem, hostMapping(host, gpn).hpn);
    if (want !== got && (want.size !== got.size || [...want].some(([slot, v]) => got.get(slot) !== v))) {
      const slot = [...new Set([...want.keys(), ...got.keys()])].find((k) => want.get(k) !== got.get(k)) ?? 0;
      const a = (gpn << PAGE_SHIFT) + BigInt(slot) * 8n;
      return `guest memory differs at ${hex(a)}: the guest sees ${hex(got.get(slot) ?? 0n)}, the reference ${hex(want.get(slot) ?? 0n)}`;
    }
  }
  return null;
}
