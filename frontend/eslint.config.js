import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import reactRefresh from "eslint-plugin-react-refresh";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist", "node_modules", "scripts"] },
  {
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    files: ["**/*.{ts,tsx}"],
    languageOptions: { ecmaVersion: 2022, globals: globals.browser },
    plugins: { "react-hooks": reactHooks, "react-refresh": reactRefresh },
    rules: {
      ...reactHooks.configs.recommended.rules,
      "react-refresh/only-export-components": ["warn", { allowConstantExport: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      // Components never fetch: server state goes through features/*/api (one API layer).
      "no-restricted-globals": ["error", { name: "fetch", message: "Use the API layer (src/lib/api-client.ts)." }],
    },
  },
  {
    files: ["src/app/router.tsx", "src/lib/**", "src/testing/**", "src/**/*.test.{ts,tsx}", "src/features/playground/api/**"],
    rules: { "no-restricted-globals": "off", "react-refresh/only-export-components": "off" },
  },
);
