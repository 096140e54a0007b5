// A worker thread starts without tsx's loader: register it, then load the TypeScript entry the parent names.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
