import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['edge/**/*.test.ts', 'gateway/**/*.test.ts', 'dashboards/**/*.test.ts', 'tests/**/*.test.ts', 'firmware-config/**/*.test.ts', 'models/**/*.test.ts'],
    // Integration tests share the machine's servers and two cores; keep parallelism modest.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
