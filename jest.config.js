// ESM + TypeScript: ts-jest in ESM mode; sources import each other with .ts specifiers, which
// TypeScript rewrites to .js on the way out, so those are mapped back to the sources.
// The end-to-end tests run a bundle of the working tree that the global setup builds (see
// __tests__/support/global-setup.ts). Coverage (`npm test` passes --coverage) is what the in-process
// tests execute of src: the end-to-end tests run the bundle in a child process and add none.
// Left out: the two entry points, which act as soon as they are imported (top-level await, then exit)
// and so cannot be loaded by an in-process test: src/index.ts only calls run() from main.ts, and
// src/recovery-cli.ts is a command-line shell (arguments, stdin, exit code) around seal.ts, which is
// measured. Both run as bundles in the end-to-end tests (the recovery tool opens escrowed ciphertexts).
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }] },
  testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
  testTimeout: 20000,
  // Two workers on a 2-core machine: the end-to-end files mostly wait on child processes and timers.
  maxWorkers: 2,
  globalSetup: '<rootDir>/__tests__/support/global-setup.ts',
  globalTeardown: '<rootDir>/__tests__/support/global-teardown.ts',
  coverageProvider: 'v8',
  collectCoverageFrom: ['src/**/*.ts', '!src/**/*.d.ts', '!src/index.ts', '!src/recovery-cli.ts'],
  coverageDirectory: 'coverage',
  coverageReporters: ['text-summary', 'lcov'],
  coverageThreshold: { global: { lines: 95, branches: 90 } }
}
