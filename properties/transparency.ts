/**
 * Hidden faults and M-mode interceptions are invisible to the guest, and each design exits exactly where it says: SSP never for page-table stores, TSP once per store to a protected page, NPT never for page-table stores, fences or satp writes.
 *
 * Invisible means the guest sees only its own fault causes, reads back the satp it
 * wrote, and takes every trap where the delegation registers send it.
 */
import { PAGE_SHIFT, hex } from '../spec/address.ts';
import { type Satp, describeAction } from '../spec/guest-action.ts';
import { costClass, trapTarget } from '../spec/privilege.ts';
import { commonFloors } from './floors.ts';
import { ALL_MODELS, everyStep, property } from './property.ts';
import type { StepRecord } from './record.ts';

export const transparency = property({
  name: 'transparency',
  sentence: 'Hidden faults and M-mode interceptions are invisible to the guest, and each design exits exactly where it says: SSP never for page-table stores, TSP once per store to a protected page, NPT never for page-table stores, fences or satp writes.',
  models: ALL_MODELS,
  guests: 'arbitrary',
  floors: commonFloors,
  ...everyStep((r) => visibleAccessTrap(r) ?? visibleInterception(r) ?? wrongExits(r)),
});

/** Page faults, access faults and their instruction/load/store forms: what the guest's own tables can cause. */
const GUEST_CAUSES = new Set([1, 5, 7, 12, 13, 15]);

const jsonBigint = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

const sameSatp = (a: Satp, b: Satp): boolean =>
  a.mode === 'bare' ? b.mode === 'bare' : b.mode === 'sv39' && a.asid === b.asid && a.rootPpn === b.rootPpn;

function visibleAccessTrap(r: StepRecord): string | null {
  const a = r.access;
  if (a === null || a.reached.kind !== 'guest') return null;
  const { observation: obs, outcome } = a.reached;
  // TSP sees every guest store to a page-table page it protects: such a store never completes without an exit.
  if (r.machine.name === 'tsp' && a.action.access === 'store' && outcome.kind === 'ok'
    && r.protectedBefore().has(outcome.pa >> PAGE_SHIFT) && !r.result.traps.some((t) => t.cost === 'vm-exit')) {
    return `a store reached protected page-table page ${hex(outcome.pa >> PAGE_SHIFT)} without an exit`;
  }
  if (obs.kind === 'fault' && !GUEST_CAUSES.has(obs.cause)) return `the guest saw cause ${obs.cause}, which only the hypervisor should see`;
  return null;
}

/** The guest reads back another satp than it wrote, or a trap goes where the delegation does not send it. */
function visibleInterception(r: StepRecord): string | null {
  const written = r.satpWritten;
  const reads = r.machine.view.guestSatp(r.after);
  if (!sameSatp(written, reads)) {
    return `the guest reads satp as ${JSON.stringify(reads, jsonBigint)}, it wrote ${JSON.stringify(written, jsonBigint)}`;
  }
  for (const t of r.result.traps) {
    if (t.from === 'M') continue;
    const to = trapTarget(t.cause, t.from, r.machine.delegation);
    if (t.to !== to || t.cost !== costClass(t.from, t.to)) return `cause ${t.cause} from ${t.from} went to ${t.to} (${t.cost}); the delegation sends it to ${to}`;
  }
  return null;
}

/** Each design exits exactly where it says it does, and never injects a fault into an access that completed. */
function wrongExits(rec: StepRecord): string | null {
  const { event: e, result: r } = rec;
  const name = rec.machine.name;
  const count = (reason: string, cost?: string) => r.traps.filter((t) => t.reason === reason && (cost === undefined || t.cost === cost)).length;
  const exits = r.traps.filter((t) => t.cost !== 'none');
  if (e.kind === 'ptStore') {
    const want = name === 'tsp' && rec.protectedBefore().has(e.addr >> PAGE_SHIFT) ? 1 : 0;
    if (count('pt-store-protected') !== want) return `${name} took ${count('pt-store-protected')} page-table-store exits, expected ${want}`;
    if (exits.some((t) => t.reason !== 'pt-store-protected' && t.reason !== 'dirty-log')) return `${name} exited on a page-table store for another reason`;
  }
  if (e.kind === 'satp' || e.kind === 'sfence') {
    const reason = e.kind === 'satp' ? 'satp-write' : 'sfence';
    const vm = count(reason, 'vm-exit');
    const mt = count(reason, 'm-trap');
    const ok = name === 'npt' ? exits.length === 0
      : name === 'tsp' ? vm === 1 && mt === 0 && exits.length === 1
      : mt === 1 && exits.length === mt + vm && vm === (e.kind === 'satp' && r.events.includes('buffer-miss') ? 1 : 0);
    if (!ok) return `${name} took ${vm} VM exits and ${mt} M-mode traps for ${describeAction(e)}`;
  }
  if (e.kind === 'access' && r.observation?.kind === 'ok' && r.events.includes('injected-fault')) {
    return 'the hypervisor injected a fault into an access that completed';
  }
  return null;
}
