/**
 * What a several-hart trace adds (counterexamples/README.md, "Several harts"), read for
 * the page: the hart count, each hart's own state (`harts`: its satp, TLB, loaded
 * shadow and out-of-sync shadow pages), and SBI remote fences. A call's hart mask and
 * range are read by the spec's own functions (spec/sbi.ts is bundled into the page, as
 * spec/pte.ts is): the harts the page says a call fences are the ones the reference fences.
 */
import { match } from 'ts-pattern';
import { type FenceRange, fenceRange, selectHarts } from '../../spec/sbi.ts';
import type { ItfValue } from '../payload.ts';
import { bigOf, hex } from './pte.ts';

export interface SatpView {
  readonly mode: string;
  readonly asid: number | null;
  readonly root: bigint | null;
}

type Rec = { readonly [k: string]: ItfValue };
/** A record of fields (not a list, a big integer or a map), or null. */
const recOf = (v: ItfValue | undefined): Rec | null => (v !== undefined && typeof v === 'object' && !Array.isArray(v) && !('#bigint' in v) && !('#map' in v) ? (v as Rec) : null);
const strings = (v: ItfValue | undefined): string[] | null => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null);

/** A recorded satp (`{mode, asid, root}`), or null where there is none. */
export function readSatp(raw: ItfValue | undefined): SatpView | null {
  const v = recOf(raw);
  if (v === null) return null;
  return { mode: String(v.mode), asid: typeof v.asid === 'number' ? v.asid : null, root: v.root === undefined ? null : bigOf(v.root) };
}

export const satpText = (s: SatpView): string => (s.mode === 'sv39' ? `Sv39 asid=${s.asid ?? '?'} root=${s.root === null ? '?' : hex(s.root)}` : s.mode);

/** The hart count of a several-hart trace (`#meta.harts`), or null for one hart. */
export function hartCount(meta: { readonly [k: string]: ItfValue }): number | null {
  return typeof meta.harts === 'number' && Number.isInteger(meta.harts) && meta.harts >= 2 ? meta.harts : null;
}

/** One hart's own state as a state records it; a field it does not record is null. */
export interface HartRecord {
  readonly satp: SatpView | null;
  readonly tlb: readonly string[] | null;
  /** TSP, SSP: the shadow root it has loaded (`sp 0x…`), '' for none. */
  readonly loaded: string | null;
  /** SSP: the shadow pages out of sync for it. */
  readonly unsync: readonly string[] | null;
}

/** A state's `harts`, hart 0 first, or null where the state does not record it. */
export function readHarts(v: ItfValue | undefined): readonly HartRecord[] | null {
  if (!Array.isArray(v)) return null;
  return v.map((h: ItfValue): HartRecord => {
    const r = recOf(h) ?? {};
    return { satp: readSatp(r.guestSatp), tlb: strings(r.tlb), loaded: typeof r.loaded === 'string' ? r.loaded : null, unsync: strings(r.unsync) };
  });
}

/** An SBI remote fence (an action of kind `sbi`), read. */
export interface SbiView {
  /** The SBI function: `sbi_remote_sfence_vma` or `sbi_remote_sfence_vma_asid`. */
  readonly fn: string;
  readonly hartMask: bigint;
  readonly hartMaskBase: bigint;
  /** The harts it names (spec/sbi.ts selectHarts), or null when it names a hart that does not exist (SBI_ERR_INVALID_PARAM). */
  readonly harts: readonly number[] | null;
  readonly startAddr: bigint;
  readonly size: bigint;
  /** What the range covers, in words (spec/sbi.ts fenceRange). */
  readonly range: string;
  /** FID #2's ASID; null for every address space. */
  readonly asid: bigint | null;
  /** The sbiret the machine returned, where recorded. */
  readonly error: number | null;
  readonly value: bigint | null;
}

const rangeText = (r: FenceRange): string =>
  match(r)
    .with({ kind: 'all' }, () => 'the whole address space')
    .with({ kind: 'addresses' }, ({ intervals }) => (intervals.length === 0 ? 'no address (size 0)' : intervals.map((i) => `${hex(i.lo)}..${hex(i.hi)}`).join(' and ')))
    .exhaustive();

/** An `sbi` action on a machine of `harts` harts, or null for any other action (or an SBI action missing an argument). */
export function readSbi(raw: ItfValue, harts: number): SbiView | null {
  const action = recOf(raw);
  if (action === null || action.kind !== 'sbi') return null;
  const hartMask = bigOf(action.hartMask);
  const hartMaskBase = bigOf(action.hartMaskBase);
  const startAddr = bigOf(action.startAddr);
  const size = bigOf(action.size);
  if (hartMask === null || hartMaskBase === null || startAddr === null || size === null) return null;
  const selected = selectHarts(hartMask, hartMaskBase, harts);
  return {
    fn: action.call === 'remoteSfenceVmaAsid' ? 'sbi_remote_sfence_vma_asid' : 'sbi_remote_sfence_vma',
    hartMask, hartMaskBase,
    harts: match(selected).with({ kind: 'harts' }, (s) => s.harts).with({ kind: 'invalid-param' }, () => null).exhaustive(),
    startAddr, size, range: rangeText(fenceRange(startAddr, size)),
    asid: action.call === 'remoteSfenceVmaAsid' ? bigOf(action.asid) : null,
    error: typeof action.error === 'number' ? action.error : null,
    value: bigOf(action.value),
  };
}

/** "harts 0, 1", "hart 1", "no hart". */
export const hartsText = (hs: readonly number[]): string => (hs.length === 0 ? 'no hart' : `hart${hs.length > 1 ? 's' : ''} ${hs.join(', ')}`);

/** Whether a step fenced `hart`'s translations: its own SFENCE.VMA, or an SBI remote fence naming it. */
export function fencesHart(action: ItfValue, stepHart: ItfValue | undefined, hart: number, harts: number): boolean {
  if (recOf(action)?.kind === 'sfence') return stepHart === hart;
  return readSbi(action, harts)?.harts?.includes(hart) === true;
}
