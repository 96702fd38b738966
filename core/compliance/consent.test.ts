import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "@jest/globals";
import { SCHEMAS_DIR } from "../validation/json-schema.ts";
import {
  consentBlock,
  currentConsents,
  parseConsent,
  parseObjection,
  PURPOSES,
  type ConsentRecord,
  type CustomerConsentRecord,
  type ObjectionRecord,
} from "./consent.ts";

const t0 = new Date("2026-03-01T12:00:00Z");
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
const consent = (
  minutes: number,
  granted: boolean,
  channel = "email",
  purpose: ConsentRecord["purpose"] = "marketing",
) => ({ kind: "consent", channel, purpose, granted, source: "web form", at: at(minutes) }) satisfies ConsentRecord;
const objection = (minutes: number): ObjectionRecord => ({
  kind: "objection",
  purpose: "marketing",
  source: "phone call",
  at: at(minutes),
});
const marketing = { purpose: "marketing", requiresConsent: true } as const;

describe("the consent decision", () => {
  test("an activity requiring consent is blocked without a record for its purpose and channel", () => {
    assert.deepEqual(consentBlock(marketing, "email", []), {
      reasonCode: "NO_CONSENT",
      reason: "NO_CONSENT:marketing/email",
    });
    // Consent on another channel or for another purpose does not count.
    const others = [consent(1, true, "sms"), consent(2, true, "email", "service")];
    assert.equal(consentBlock(marketing, "email", others)?.reason, "NO_CONSENT:marketing/email");
    assert.equal(consentBlock(marketing, "sms", others), undefined);
  });

  test("the latest record per (channel, purpose) wins, whatever the order they come in", () => {
    assert.equal(consentBlock(marketing, "email", [consent(1, true)]), undefined);
    assert.deepEqual(consentBlock(marketing, "email", [consent(1, true), consent(2, false)]), {
      reasonCode: "NO_CONSENT",
      reason: "CONSENT_WITHDRAWN:marketing/email",
    });
    assert.equal(consentBlock(marketing, "email", [consent(3, true), consent(2, false)]), undefined);
    // Same instant: the later stored record wins.
    assert.equal(consentBlock(marketing, "email", [consent(2, false), consent(2, true)]), undefined);
    assert.equal(currentConsents([consent(1, true), consent(2, false), consent(1, true, "sms")]).size, 2);
  });

  test("an objection blocks marketing with or without consent, is not lifted by a later consent, and leaves other purposes alone", () => {
    const records: CustomerConsentRecord[] = [consent(1, true), objection(2), consent(3, true)];
    const blocked = { reasonCode: "OBJECTION", reason: "OBJECTION:marketing" };
    assert.deepEqual(consentBlock(marketing, "email", records), blocked);
    assert.deepEqual(consentBlock({ purpose: "marketing" }, "voice", records), blocked);
    assert.equal(consentBlock({ purpose: "service" }, "email", records), undefined);
    assert.equal(consentBlock({}, "email", records), undefined);
  });

  test("an activity that needs no consent and names no purpose goes; one requiring consent without a purpose does not", () => {
    assert.equal(consentBlock({ purpose: "marketing" }, "email", []), undefined);
    assert.equal(
      consentBlock({ requiresConsent: true }, "email", [consent(1, true)])?.reason,
      "NO_CONSENT:unspecified/email",
    );
  });
});

describe("consent and objection requests", () => {
  test("a consent is parsed with its evidence and the given time", () => {
    const out = parseConsent(
      { channel: "email", purpose: "marketing", granted: true, source: " web form ", evidence: "https://x.test/f/1" },
      t0,
    );
    assert.deepEqual(out, {
      record: {
        kind: "consent",
        channel: "email",
        purpose: "marketing",
        granted: true,
        source: "web form",
        evidence: "https://x.test/f/1",
        at: t0,
      },
    });
  });

  test("each bad field is named, with what was expected", () => {
    const out = parseConsent({ channel: "E-mail", purpose: "sales", granted: "yes", extra: 1 }, t0);
    assert.ok("details" in out);
    assert.deepEqual(
      out.details.map((d) => d.path),
      ["/extra", "/channel", "/purpose", "/granted", "/source"],
    );
    assert.match(out.details[2]!.message, /one of marketing, service/);
  });

  test("an objection is only to marketing", () => {
    assert.deepEqual(parseObjection({ purpose: "marketing", source: "letter" }, t0), {
      record: { kind: "objection", purpose: "marketing", source: "letter", at: t0 },
    });
    const bad = parseObjection({ purpose: "service", source: "" }, t0);
    assert.ok("details" in bad);
    assert.deepEqual(
      bad.details.map((d) => d.path),
      ["/purpose", "/source"],
    );
  });

  test("the activity schema's purposes are this module's", () => {
    const schema = JSON.parse(readFileSync(path.join(SCHEMAS_DIR, "activity.schema.json"), "utf8")) as {
      properties: { purpose: { enum: string[] } };
    };
    assert.deepEqual(schema.properties.purpose.enum, [...PURPOSES]);
  });
});
