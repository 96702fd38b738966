/**
 * Jest 30 in ESM mode (run with --experimental-vm-modules, see scripts/test.ts): TypeScript
 * through @swc/jest (types are checked by `npm run lint`), one FerretDB for the whole run.
 */
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  transform: {
    "^.+\\.ts$": [
      "@swc/jest",
      {
        jsc: { parser: { syntax: "typescript" }, target: "es2024" },
        module: { type: "es6" },
        sourceMaps: "inline",
      },
    ],
  },
  testMatch: ["<rootDir>/{packages,core,plugins,test}/**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/"],
  // Plugin folders outside the repository (tests create them in tmp) import the SDK by name, as
  // the hub's resolve hook lets them do in production (core/plugins/sdk-resolution.ts).
  moduleNameMapper: {
    "^@dialmesh/sdk$": "<rootDir>/packages/sdk/src/index.ts",
    "^@dialmesh/sdk/contract-kit$": "<rootDir>/packages/sdk/src/contract-kit.ts",
  },
  setupFiles: ["<rootDir>/test/support/plain-console.ts"],
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/support/global-teardown.ts",
  maxWorkers: 2,
  testTimeout: 300_000,
  // Multi-node tests hold servers until their afterAll; nothing is left when the run ends.
  forceExit: false,
};
