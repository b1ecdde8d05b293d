// `npm run build`: the whole CLI as one minified ES module, dist/cli/kairos-mesh.mjs (next to where
// src/cli/main.ts sits, so paths relative to the CLI's own URL stay the same), then one run of it
// so the compile cache next to it is ready before the first daemon starts (a daemon that starts
// without it parses the whole bundle and stays ~14 MiB larger).
//
// Why one file: ~1,200 separate modules cost a daemon ~20 MiB of memory (one module record,
// scope and source string each, their code-cache entries) and ~0.3 s of CPU at every start.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

/**
 * libp2p's peer store sorts protocols, metadata keys and addresses with `localeCompare` only to
 * keep them in a stable order; that loads ICU's collation data into every daemon (~2.3 MiB).
 * In these files each `x.localeCompare(y)` becomes a code-unit comparison; a call the pattern
 * does not match fails the build, so a dependency update cannot silently bring it back.
 * @param {RegExp} files
 * @returns {import('esbuild').Plugin}
 */
function codeUnitSort(files) {
  const call = /([\w.]+(?:\(\))?)\.localeCompare\(([\w.]+(?:\(\))?)\)/g;
  const compare = 'const __compareCodeUnits = (x, y) => (x < y ? -1 : x > y ? 1 : 0);\n';
  return {
    name: 'code-unit-sort',
    setup(plugin) {
      plugin.onLoad({ filter: files }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (!source.includes('localeCompare')) return undefined;
        const contents = compare + source.replace(call, '__compareCodeUnits($1, $2)');
        if (contents.includes('localeCompare')) throw new Error(`${args.path}: a localeCompare call left`);
        return { contents, loader: 'js' };
      });
    },
  };
}

/**
 * libp2p's TCP connection writes each chunk it is handed with its own `socket.write`: every
 * yamux frame, once encrypted, is a length prefix and a ciphertext, so two system calls per
 * frame, and a node forwarding one ledger entry to 24 members made ~50. Corking the socket
 * until the end of the tick sends all that one tick wrote in one `writev` (~14 % less CPU for
 * 25 daemons forming a mesh on 2 cores). The method it changes must look as expected, or the
 * build fails.
 * @param {RegExp} file
 * @returns {import('esbuild').Plugin}
 */
function corkedTcpWrites(file) {
  const method = `    sendData(data) {
        let sentBytes = 0;`;
  const corked = `    sendData(data) {
        if (!this.corkedUntilNextTick) {
            this.corkedUntilNextTick = true;
            this.socket.cork();
            process.nextTick(() => {
                this.corkedUntilNextTick = false;
                this.socket.uncork();
            });
        }
        let sentBytes = 0;`;
  return {
    name: 'corked-tcp-writes',
    setup(plugin) {
      plugin.onLoad({ filter: file }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (source.split(method).length !== 2) throw new Error(`${args.path}: sendData is not as expected`);
        return { contents: source.replace(method, corked), loader: 'js' };
      });
    },
  };
}

/**
 * Node's own modules whose ES module form reads every export: `node:http`'s include lazy getters
 * (WebSocket, ...) that load undici, http2, tls and perf_hooks, ~16 MiB no daemon uses.
 * `require` reads only what is used.
 * @param {string[]} modules
 * @returns {import('esbuild').Plugin}
 */
function requiredNotImported(modules) {
  const filter = new RegExp(`^(${modules.join('|')})$`);
  return {
    name: 'required-not-imported',
    setup(plugin) {
      // The stub's own require stays Node's.
      plugin.onResolve({ filter }, (args) =>
        args.namespace === 'required'
          ? { path: args.path, external: true }
          : { path: args.path, namespace: 'required' },
      );
      plugin.onLoad({ filter: /.*/, namespace: 'required' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
    },
  };
}
const outfile = join(root, 'dist', 'cli', 'kairos-mesh.mjs');

rmSync(join(root, 'dist'), { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'src', 'cli', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  // A native addon, found by its package through node_modules at run time.
  external: ['classic-level'],
  // The CommonJS dependencies (pino, ...) call require() for Node's own modules.
  banner: {
    js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  },
  plugins: [
    requiredNotImported(['node:http']),
    codeUnitSort(/@libp2p[\\/]peer-(store|record)[\\/].*\.js$/),
    corkedTcpWrites(/@libp2p[\\/]tcp[\\/]dist[\\/]src[\\/]socket-to-conn\.js$/),
  ],
  logLevel: 'warning',
});

// V8 holds a script with a single non-ASCII character as UTF-16: twice the memory for all 2 MB.
// esbuild escapes non-ASCII in strings but not inside regular expression literals.
const source = readFileSync(outfile);
const offset = source.findIndex((byte) => byte > 0x7f);
if (offset !== -1) {
  const context = source.subarray(Math.max(0, offset - 40), offset + 20).toString();
  throw new Error(`the bundle must be ASCII; write \\u escapes instead of the character in: ${context}`);
}

// Through `up`, so with the daemon's V8 flags: the cache is kept per set of flags.
execFileSync(process.execPath, [join(root, 'bin', 'kairos-mesh.js'), 'up', '--help'], { stdio: 'ignore' });
