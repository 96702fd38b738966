/**
 * A plugin imports the SDK by name (`@dialmesh/sdk`). A plugin folder that lives elsewhere and is
 * symlinked into plugins/ resolves imports from its real path, where no node_modules holds the
 * SDK: this resolve hook then answers with the hub's own copy. A plugin that installs its own
 * copy keeps it (errors are recognised by brand and code, so two copies agree).
 */
import { registerHooks } from "node:module";

const SDK = "@dialmesh/sdk";
let registered = false;

function isSdk(specifier: string): boolean {
  return specifier === SDK || specifier.startsWith(`${SDK}/`);
}

function isModuleNotFound(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND";
}

export function resolveSdkFromHub(): void {
  if (registered) return;
  registered = true;
  try {
    install();
  } catch {
    // A loader that refuses hooks (jest runs plugins in its own module registry, where the
    // SDK resolves through the workspace anyway): plugins resolve as any module does.
  }
}

function install(): void {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      try {
        return nextResolve(specifier, context);
      } catch (err) {
        if (!isSdk(specifier) || !isModuleNotFound(err)) throw err;
        return nextResolve(specifier, { ...context, parentURL: import.meta.url });
      }
    },
  });
}
