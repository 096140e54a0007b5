/**
 * Wherever the allowed set has one element the machine produces it, and for a well-behaved guest every allowed set has one element.
 *
 * The second half is a claim about the reference (eager fences, no G bits, one
 * ASID per root leave nothing stale), and what lets properties/equivalence.test.ts
 * compare NPT, TSP and SSP with each other (decision 0005).
 */
import { commonFloors, scaled } from './floors.ts';
import { ALL_MODELS, everyStep, property } from './property.ts';

export const determinism = property({
  name: 'determinism',
  sentence: 'Wherever the allowed set has one element the machine produces it, and for a well-behaved guest every allowed set has one element.',
  models: ALL_MODELS,
  guests: 'both',
  // Half the programs are well-behaved, where nothing is stale: lower floors, and many deterministic accesses.
  floors: (m) => ({ ...scaled(commonFloors(m), 0.4), 'deterministic-access': 600 }),
  ...everyStep((r) => {
    const a = r.access;
    // An outcome that is not guest-physical has nothing to compare (refinement and isolation name it).
    if (a === null || a.reached.kind !== 'guest') return null;
    if (r.guest === 'well-behaved' && a.allowed.length !== 1) {
      return `the reference allows ${a.allowed.length} outcomes (${a.allowedKeys.join('; ')}) for a well-behaved guest`;
    }
    if (a.allowed.length === 1 && a.match === undefined) return `the architecture allows only ${a.allowedKeys[0]}, the machine gave ${a.reached.key}`;
    return null;
  }),
});
