import assert from "node:assert/strict";
import { describe, test } from "@jest/globals";
import type { PluginManifest } from "@dialmesh/sdk";
import { declaresOption, mergeOptOutKeywords, withHubDefaults } from "./hub-options.ts";

function manifest(properties: Record<string, unknown>): PluginManifest {
  return {
    name: "fixture",
    version: "1.0.0",
    channels: ["sms"],
    entry: "./index.ts",
    capabilities: {},
    optionsSchema: { type: "object", properties },
  };
}

const withKeywords = manifest({ from: { type: "string" }, optOutKeywords: { type: "object" } });
const withoutKeywords = manifest({ host: { type: "string" } });

describe("hub-wide plugin options", () => {
  test("declaresOption reads the top-level properties of the options schema", () => {
    assert.equal(declaresOption(withKeywords, "optOutKeywords"), true);
    assert.equal(declaresOption(withoutKeywords, "optOutKeywords"), false);
    assert.equal(declaresOption({ ...withoutKeywords, optionsSchema: { type: "object" } }, "optOutKeywords"), false);
  });

  test("keywords merge per language, both lists apply, without repeats", () => {
    assert.deepEqual(
      mergeOptOutKeywords(
        { es: { optOut: ["BAJA"], optIn: ["ALTA"] }, fr: { optOut: ["ARRÊT"] } },
        { es: { optOut: ["ALTO", "BAJA"] }, de: { optIn: ["START"] } },
      ),
      { es: { optOut: ["BAJA", "ALTO"], optIn: ["ALTA"] }, fr: { optOut: ["ARRÊT"] }, de: { optIn: ["START"] } },
    );
    assert.deepEqual(mergeOptOutKeywords(undefined, undefined), {});
  });

  test("a plugin that declares optOutKeywords gets the hub's keywords merged into its own", () => {
    const hub = { optOutKeywords: { es: { optOut: ["BAJA"], optIn: ["ALTA"] } } };
    assert.deepEqual(withHubDefaults(withKeywords, { from: "+15005550006" }, hub), {
      from: "+15005550006",
      optOutKeywords: { es: { optOut: ["BAJA"], optIn: ["ALTA"] } },
    });
    assert.deepEqual(
      withHubDefaults(withKeywords, { optOutKeywords: { es: { optOut: ["ALTO"] }, it: { optOut: ["BASTA"] } } }, hub),
      { optOutKeywords: { es: { optOut: ["BAJA", "ALTO"], optIn: ["ALTA"] }, it: { optOut: ["BASTA"] } } },
    );
  });

  test("options are untouched when the plugin does not declare the option or the hub has no keywords", () => {
    const options = { host: "smtp.example.com" };
    assert.equal(withHubDefaults(withoutKeywords, options, { optOutKeywords: { es: { optOut: ["BAJA"] } } }), options);
    const own = { optOutKeywords: { es: { optOut: ["ALTO"] } } };
    assert.equal(withHubDefaults(withKeywords, own, {}), own);
    assert.equal(withHubDefaults(withKeywords, own, { optOutKeywords: {} }), own);
  });
});
