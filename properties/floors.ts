/**
 * Floors: how often per 100 programs the generator must reach an event for a
 * passing run to mean something; below a floor the run fails as vacuous.
 */
import type { ModelName } from '../model/machine.ts';
import type { StatName } from './run.ts';

export type Floors = Partial<Record<StatName, number>>;

/**
 * Floors per 100 programs, set at about half of what the default generator
 * reaches (a default run gives, per 100 programs on SSP: 270 accesses with a
 * stale outcome allowed, 35 taken, 195 resyncs, 268 hidden faults, 235 satp
 * switches without a fence, 46 remaps, 91 write-protections, 31 dirty logs) and
 * below the worst of 15 seeds at the test budget of 150 programs; high enough
 * that a run whose generator stopped reaching stale translations, resyncs or host
 * events fails.
 */
export const commonFloors = (model: ModelName): Floors => ({
  access: 500,
  'stale-allowed': 100,
  'asid-switch-no-fence': 100,
  'host-remap': 20,
  'host-write-protect': 20,
  ...(model === 'npt' ? { 'stale-taken': 30 } : {}),
  ...(model === 'ssp' ? { 'stale-taken': 10, 'shadow-resync': 60, 'hidden-fault': 100, 'buffer-hit': 60 } : {}),
  ...(model === 'tsp' ? { 'hidden-fault': 100, 'shadow-zap': 80 } : {}),
});

export const scaled = (f: Floors, k: number): Floors => Object.fromEntries(Object.entries(f).map(([e, n]) => [e, n * k]));
