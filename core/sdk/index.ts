export * from "./plugin.ts";
export * from "../domain/status.ts";
export * from "./secrets.ts";
