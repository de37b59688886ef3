// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";

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
  prettier,
);
