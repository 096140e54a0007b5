/**
 * What the timeline shows of a step: its kind, its text, the hart that ran it (several
 * harts), and its events (the violation, an access the reference does not allow, traps
 * and exits it took, a fence, an SBI remote fence and the harts it names, a satp
 * write). Read from the packed states only, at the cost of one state per step, so
 * that the timeline can be drawn for any window of a long trace.
 */
import type { ItfValue } from '../payload.ts';
import { hartCount, hartsText, readSbi } from './harts.ts';
import type { TraceData } from './trace-data.ts';

export interface StepEvent {
  /** A class for the page: violation, bad, ok, trap, exit, fence, sbi, satp, store, host. */
  readonly kind: string;
  readonly text: string;
}

export interface StepSummary {
  readonly k: number;
  readonly kind: string;
  readonly text: string;
  /** The hart that ran the step, in a several-hart trace (null: one hart, or the boot state). */
  readonly hart: number | null;
  readonly events: readonly StepEvent[];
}

const counts = (v: ItfValue | undefined): { readonly [r: string]: number } =>
  v !== undefined && typeof v === 'object' && !Array.isArray(v) ? (v as { readonly [r: string]: number }) : {};

export function summarise(data: TraceData, k: number): StepSummary {
  const st = data.state(k);
  const kind = String((st.action as { readonly kind?: unknown }).kind ?? 'unknown');
  const events: StepEvent[] = [];
  const violation = data.value(k, 'violation');
  if (typeof violation === 'string' && violation !== '') events.push({ kind: 'violation', text: 'violation' });
  const observation = data.value(k, 'observation');
  const allowed = data.value(k, 'allowed');
  if (k > 0 && typeof observation === 'string' && observation !== '' && Array.isArray(allowed)) {
    if (!allowed.includes(observation)) events.push({ kind: 'bad', text: 'not allowed' });
    else events.push({ kind: 'ok', text: observation.startsWith('fault') ? 'fault' : 'ok' });
  }
  if (k > 0) {
    const now = counts(data.value(k, 'exits'));
    const before = counts(data.value(k - 1, 'exits'));
    for (const [reason, n] of Object.entries(now)) {
      const d = n - (before[reason] ?? 0);
      if (d > 0) events.push({ kind: reason.startsWith('m-trap') ? 'trap' : 'exit', text: `${reason}${d > 1 ? ` ×${d}` : ''}` });
    }
  }
  if (kind === 'sfence') events.push({ kind: 'fence', text: 'fence' });
  const harts = hartCount(data.payload.meta);
  const sbi = harts === null ? null : readSbi(st.action, harts);
  if (sbi !== null) events.push({ kind: 'sbi', text: sbi.harts === null ? 'SBI: no such hart' : `SBI fence → ${hartsText(sbi.harts)}` });
  if (kind === 'satp') events.push({ kind: 'satp', text: 'satp' });
  if (kind === 'ptStore') events.push({ kind: 'store', text: 'PTE store' });
  if (kind.startsWith('host')) events.push({ kind: 'host', text: kind });
  const hart = data.value(k, 'hart');
  return { k, kind, text: st.text, hart: harts !== null && typeof hart === 'number' ? hart : null, events };
}

/** The step the page opens at: the trace's recorded violation step, else the first state with a violation, else the last. */
export function failingStep(data: TraceData): number {
  const meta = data.payload.meta.violation as { readonly step?: unknown } | undefined;
  const recorded = typeof meta?.step === 'number' ? meta.step : -1;
  if (recorded >= 0 && recorded < data.count) return recorded;
  for (let k = 0; k < data.count; k++) {
    const v = data.value(k, 'violation');
    if (typeof v === 'string' && v !== '') return k;
  }
  return data.count - 1;
}
