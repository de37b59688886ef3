// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";

// The layering, as lint rules. no-restricted-imports sees an import as written, so the rules are
// made per folder depth, where a count of "../" names a fixed place:
// - nothing outside mesh/ reaches past an entry: `mesh` or `mesh/<folder>`, never a file in it;
// - mesh/ never imports services/, scripts/ or bench/ (its tests may use test/'s helpers);
// - a service imports only gen/, mesh's entries, services/common and its own folder (its tests
//   may use test/'s helpers too).
const up = (n) => `(\\.\\./){${n}}`;
const DEEP_MESH = {
  regex: "^(\\.\\./)+mesh/[^/]+/",
  message: "Import mesh through its entries: `mesh` or `mesh/<folder>`, not a file inside one.",
};
const layering = [];
for (let depth = 0; depth <= 3; depth++) {
  const below = "/*".repeat(depth);
  layering.push({
    files: [`mesh${below}/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: `^${up(depth + 1)}(services|scripts|bench)(/|$)`,
              message: "The mesh never imports services, scripts or benchmarks.",
            },
          ],
        },
      ],
    },
  });
  layering.push({
    files: [`mesh${below}/*.ts`],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: `^${up(depth + 1)}(services|scripts|bench|test)(/|$)`,
              message: "The mesh never imports services, scripts, benchmarks or tests.",
            },
          ],
        },
      ],
    },
  });
  for (const tests of [true, false]) {
    const root = tests ? "gen/|mesh(/[a-z-]+)?$|test/" : "gen/|mesh(/[a-z-]+)?$";
    layering.push({
      files: [tests ? `services/*${below}/*.test.ts` : `services/*${below}/*.ts`],
      ...(tests ? {} : { ignores: ["**/*.test.ts"] }),
      rules: {
        "no-restricted-imports": [
          "error",
          {
            patterns: [
              DEEP_MESH,
              {
                regex: `^${up(depth + 1)}(?!common(/|$))[^.]`,
                message: "A service never imports another service; shared code is services/common.",
              },
              {
                regex: `^${up(depth + 2)}(?!${root})`,
                message: "A service imports only gen/, mesh's entries and services/common.",
              },
            ],
          },
        ],
      },
    });
  }
}
layering.push({
  files: ["scripts/**/*.ts", "test/**/*.ts", "bench/**/*.ts"],
  rules: { "no-restricted-imports": ["error", { patterns: [DEEP_MESH] }] },
});

export default tseslint.config(
  // Generated code is never linted (it is checked against a fresh codegen instead).
  { ignores: ["gen/**", "dist/**", "node_modules/**", "data/**", "coverage/**"] },
  js.configs.recommended,
  {
    files: ["**/*.ts"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      // A streaming handler is an async generator; one that only yields is still correct.
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
    },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    languageOptions: { globals: { console: "readonly", process: "readonly" } },
  },
  {
    // The dashboard's page script runs in the browser, with Chart.js loaded before it.
    files: ["services/gateway/dashboard/public/**/*.js"],
    languageOptions: {
      sourceType: "script",
      globals: {
        Chart: "readonly",
        crypto: "readonly",
        document: "readonly",
        fetch: "readonly",
        FormData: "readonly",
        history: "readonly",
        location: "readonly",
        sessionStorage: "readonly",
        setInterval: "readonly",
        URLSearchParams: "readonly",
      },
    },
  },
  ...layering,
  prettier,
);
