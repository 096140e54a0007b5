/** The three models by name, as the runners hold them (their state types erased). */
import { type AnyMachine, type ModelName, erase } from './machine.ts';
import { npt } from './npt.ts';
import { ssp } from './ssp.ts';
import { tsp } from './tsp.ts';

export const MODEL_NAMES: readonly ModelName[] = ['npt', 'tsp', 'ssp'];

export const MODELS: Readonly<Record<ModelName, AnyMachine>> = { npt: erase(npt), tsp: erase(tsp), ssp: erase(ssp) };
