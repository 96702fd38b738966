/**
 * @dialmesh/sdk: what a plugin imports. The contract (types, `definePlugin`, `PluginError`),
 * the canonical statuses, and the helpers every vendor mapping needs (address normalisation,
 * opt-out keywords, templates, secret redaction). The contract kit is `@dialmesh/sdk/contract-kit`.
 */
export * from "./plugin.ts";
export * from "./status.ts";
export * from "./voice.ts";
export * from "./secrets.ts";
export * from "./address.ts";
export * from "./opt-out.ts";
export * from "./template.ts";
export * from "./timers.ts";
