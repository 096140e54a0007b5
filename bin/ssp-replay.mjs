#!/usr/bin/env node
// The `ssp-replay` command: replay a counterexample file (cli/replay.ts), run through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../cli/replay.ts');
