#!/usr/bin/env node
// Node >= 22.18 runs TypeScript by stripping types, so the CLI needs no build step.
import '../src/cli/main.ts';
