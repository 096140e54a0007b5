/**
 * The properties: what `npm start`, the test suite and the counterexample traces
 * check, in the order they run and print. A property is added here and nowhere
 * else in the code (properties/README.md says how).
 */
import { determinism } from './determinism.ts';
import { hartLegality } from './hart-legality.ts';
import { isolation } from './isolation.ts';
import { justifiedShadow } from './justified-shadow.ts';
import { noLostDirty } from './no-lost-dirty.ts';
import { refinement } from './refinement.ts';
import { shadowMemory } from './shadow-memory.ts';
import { transparency } from './transparency.ts';

export const PROPERTIES = [refinement, determinism, justifiedShadow, isolation, transparency, shadowMemory, hartLegality, noLostDirty] as const;

export type PropertySpec = (typeof PROPERTIES)[number];
export type PropertyName = PropertySpec['name'];
export const PROPERTY_NAMES: readonly PropertyName[] = PROPERTIES.map((p) => p.name);

/** The properties that apply to a model, in catalogue order. */
export const propertiesFor = (model: string): PropertySpec[] => PROPERTIES.filter((p) => (p.models as readonly string[]).includes(model));

export const findProperty = (name: string): PropertySpec | undefined => PROPERTIES.find((p) => p.name === name);
