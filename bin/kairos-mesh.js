#!/usr/bin/env node
// Runs the compiled CLI (dist/, made by `npm run build`, which `npm install` runs) when it is
// at least as new as every source file; otherwise the TypeScript sources directly (Node >= 22.18
// strips types), so an edited tree never runs stale code.
import { enableCompileCache } from 'node:module';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// A daemon lives for months with a small heap: a 1 MiB young generation keeps its RSS ~25 MiB
// lower. V8 reads the flag only at start-up, so `up` replaces itself (same pid) with a Node
// started with it.
const DAEMON_FLAGS = ['--max-semi-space-size=1'];
if (process.argv[2] === 'up' && !DAEMON_FLAGS.every((flag) => process.execArgv.includes(flag))) {
  process.execve(
    process.execPath,
    [process.execPath, ...DAEMON_FLAGS, ...process.execArgv, ...process.argv.slice(1)],
    process.env,
  );
}

const root = join(import.meta.dirname, '..');

/** @param {string} dir @returns {number} newest modification time of any file below dir */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function builtIsFresh() {
  try {
    return statSync(join(root, 'dist', '.built')).mtimeMs >= newestMtime(join(root, 'src'));
  } catch {
    return false;
  }
}

// V8's code cache on disk (Node >= 22.1): every later start skips compiling ~1,000 modules,
// which is most of a daemon's start-up CPU.
enableCompileCache();

await import(builtIsFresh() ? '../dist/cli/main.js' : '../src/cli/main.ts');
