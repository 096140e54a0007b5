/**
 * Floors: how often per 100 programs the generator must reach an event for a
 * passing run to mean something; below a floor the run fails as vacuous.
 */
import type { ModelName } from '../model/machine.ts';
import type { StatName } from './run.ts';

export type Floors = Partial<Record<StatName, number>>;

/**
 * Floors on the generator's coverage (coverage.ts), the same on every model, per
 * 100 programs: at about half of what the default generator reaches (1,000
 * programs, three seeds: 108 pointer changes at level 2 of a walk the program used
 * and 88 at level 1, 78 in a lower-level table two roots read, 35 freed tables
 * reused as data and 41 linked back, 34 data stores at a further word of a page,
 * 19 on a PTE a pool walk reads) and at two thirds or less of the worst of 15
 * seeds at the test budget. Bugs of real shadow tables live in that structure
 * (pointers above the leaf, pages freed and reused, tables written as data): a
 * generator that went back to changing the last PTE of a walk, or to three word
 * offsets, fails here.
 */
const coverageFloors: Floors = {
  'pointer-change-used-l2': 50,
  'pointer-change-used-l1': 40,
  'pointer-change-shared': 35,
  'freed-table-reused-as-data': 15,
  'freed-table-relinked': 18,
  'data-store-new-offset': 14,
  'data-store-on-pte': 6,
};

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
  ...coverageFloors,
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
