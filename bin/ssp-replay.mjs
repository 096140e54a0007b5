#!/usr/bin/env node
// The `ssp-replay` command: replay a counterexample file (cli/replay.ts), run through tsx.
import { register } from 'tsx/esm/api';

register();
const { runReplayCommand } = await import('../cli/replay.ts');
runReplayCommand();
