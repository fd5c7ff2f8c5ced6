// ESLint flat config: typescript-eslint's recommended-type-checked rules, plus
// rules the code already follows, over src/, test/, bench/ and scripts/.
// Formatting is Prettier's (npm run format); no stylistic rules here.
//
// TypeScript 7 (the native compiler that builds dray) has no JavaScript API,
// and typescript-eslint needs one (peer typescript <6.1). So lint type-checks
// with TypeScript 6.0, installed as `typescript-api` (npm alias), and this
// file points typescript-eslint's `require("typescript…")` there before loading it.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const Module = require("node:module");
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const target = request === "typescript" || request.startsWith("typescript/") ? request.replace(/^typescript/, "typescript-api") : request;
  return resolveFilename.call(this, target, ...rest);
};

const { default: js } = await import("@eslint/js");
const { default: tseslint } = await import("typescript-eslint");

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "tmp/", "examples/", "completions/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: "./tsconfig.json", tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Rules the code already follows: kept so that it stays so.
      eqeqeq: ["error", "always"],
      "no-var": "error",
      "prefer-const": "error",
      "no-throw-literal": "error",
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports", disallowTypeAnnotations: false }],
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", caughtErrors: "none" },
      ],
      "@typescript-eslint/explicit-function-return-type": [
        "error",
        { allowExpressions: true, allowTypedFunctionExpressions: true, allowHigherOrderFunctions: true },
      ],
      // node:test's describe/it return promises the runner itself awaits.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            {
              from: "package",
              package: "node:test",
              name: ["describe", "it", "test", "suite", "before", "after", "beforeEach", "afterEach"],
            },
          ],
        },
      ],
      // Digest's toString is its canonical `alg:hex` form: the one object the messages interpolate.
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allow: [{ from: "file", name: "Digest", path: "src/oci/digest.ts" }] },
      ],
      // An abort's reason is `unknown` by type; rejecting with it keeps the caller's reason.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingUnknown: true, allowThrowingAny: true }],
      // Off, with reasons:
      // - an `async` method without `await` is how the code implements a Promise-returning interface
      //   (a throw becomes a rejection, as callers expect); the rule would ask for Promise.resolve wrappers.
      "@typescript-eslint/require-await": "off",
      // - `x[i]!` marks where the code relies on an element being there; without noUncheckedIndexedAccess
      //   the type already says so, and the rule would strip those marks (243 of them).
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
    },
  },
  {
    // CommonJS on purpose (undici's deep requires, the bin shim): require() is the way to load there.
    files: ["**/*.cts", "**/*.cjs"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // Plain JavaScript (this file, scripts/, the bin shim): no type information.
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        URL: "readonly",
        __dirname: "readonly",
        require: "readonly",
        module: "writable",
      },
    },
    rules: { "@typescript-eslint/explicit-function-return-type": "off" },
  },
);
