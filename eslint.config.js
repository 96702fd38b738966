import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** Plugins reach the hub only through @dialmesh/sdk and their PluginContext. */
const HUB_INTERNALS = ["**/core/**", "**/packages/sdk/src/**", "moleculer", "mongoose"];

export default tseslint.config(
  { ignores: ["node_modules/**", ".data/**", ".tools/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["plugins/**/*.ts"],
    ignores: ["plugins/**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: HUB_INTERNALS,
              message:
                "A plugin uses only @dialmesh/sdk (and its PluginContext): hub internals change without notice and are not there when the plugin lives in another folder.",
            },
          ],
        },
      ],
    },
  },
);
