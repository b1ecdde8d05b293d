import { defineConfig } from 'vitest/config';

// Multi-process and system tests start real daemons: give them room on a 2-core machine
// and never run two heavy files at once.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'simulations/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    pool: 'forks',
  },
});
