/**
 * The mini-program's journeys against the real server (tests_js/). globalSetup starts
 * `app.py serve --standins --with-worker` on free ports with its own data folder and
 * waits for /readyz; globalTeardown stops it. One worker: the journeys share that server.
 */
module.exports = {
  rootDir: __dirname,
  roots: ['<rootDir>/tests_js'],
  testMatch: ['**/*.test.js'],
  testEnvironment: 'jsdom',
  globalSetup: '<rootDir>/tests_js/setup/global-setup.js',
  globalTeardown: '<rootDir>/tests_js/setup/global-teardown.js',
  setupFilesAfterEnv: ['<rootDir>/tests_js/setup/mini-program.js'],
  modulePathIgnorePatterns: ['<rootDir>/.venv', '<rootDir>/var', '<rootDir>/node_modules/.cache'],
  maxWorkers: 1,
  testTimeout: 180000,
  verbose: true,
}
