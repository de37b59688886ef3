import type { Config } from "jest";

const config: Config = {
  testEnvironment: "node",
  roots: ["<rootDir>/mesh", "<rootDir>/services", "<rootDir>/test", "<rootDir>/bench"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // Type checking is `npm run typecheck`; with isolatedModules (tsconfig) ts-jest only strips
    // types, which keeps runs fast.
    "^.+\\.ts$": "ts-jest",
  },
  globalSetup: "<rootDir>/test/global-setup.ts",
  testTimeout: 30_000,
  // On two cores jest runs the files one after another in its own process. A handle a file
  // leaves running (a knex pool not destroyed keeps tarn's 1 s reaping interval; one did, in
  // a run of the whole suite, and CI waited out its time limit) must not hold the run open:
  // the run ends when its last test does. `npx jest --detectOpenHandles FILES` finds such a leak.
  forceExit: true,
};

export default config;
