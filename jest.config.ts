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
};

export default config;
