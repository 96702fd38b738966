import assert from "node:assert/strict";
import { describe, it } from "@jest/globals";
import { assertCanonicalEvent } from "@dialmesh/sdk/contract-kit";
import type { SendRequest } from "@dialmesh/sdk";
import { CISCO_CALL_RESULTS, isClosedCallStatus, mapCallResult } from "./cisco-cce.mapping.ts";
import { contactRow, contactsCsv } from "./cisco-cce.contacts.ts";
import { importBody, parseContactPage } from "./cisco-cce.api.ts";
import { decidingCode, resultEvent } from "./cisco-cce.results.ts";

/** The table of issue 10 and docs/plugins.md: code -> canonical outcome or status. */
const EXPECTED: Record<number, string> = {
  0: "status FAILED",
  2: "NETWORK_ERROR",
  3: "INVALID_NUMBER",
  4: "NETWORK_ERROR",
  5: "INVALID_NUMBER",
  6: "NETWORK_ERROR",
  7: "INVALID_NUMBER",
  8: "NO_ANSWER",
  9: "BUSY",
  10: "CONNECTED",
  11: "FAX",
  12: "ANSWERING_MACHINE",
  13: "status FAILED",
  14: "CONNECTED",
  15: "ANSWERING_MACHINE",
  16: "ABANDONED",
  17: "status FAILED",
  18: "status FAILED",
  19: "status CANCELLED",
  20: "ABANDONED",
  21: "ABANDONED",
  22: "ANSWERING_MACHINE",
  23: "INVALID_NUMBER",
  24: "INVALID_NUMBER",
  25: "status FAILED",
  26: "status BLOCKED",
  27: "NETWORK_ERROR",
  28: "NETWORK_ERROR",
  29: "NETWORK_ERROR",
  30: "NETWORK_ERROR",
  31: "NETWORK_ERROR",
  32: "status FAILED",
  33: "status FAILED",
};

describe("cisco-cce mapping", () => {
  it("maps every Dialer_Detail CallResult code as the table says", () => {
    assert.deepEqual(Object.keys(CISCO_CALL_RESULTS).sort(), Object.keys(EXPECTED).sort());
    for (const [code, expected] of Object.entries(EXPECTED)) {
      const mapping = mapCallResult(Number(code));
      const got = mapping.kind === "status" ? `status ${mapping.status}` : mapping.outcome;
      assert.equal(got, expected, `CallResult ${code}`);
      assert.ok(mapping.reason.length > 0);
    }
  });

  it("keeps a callback request (14, 15) as reasonCode CALLBACK_REQUESTED", () => {
    for (const code of [14, 15]) {
      const mapping = mapCallResult(code);
      assert.equal(mapping.kind === "call-result" ? mapping.reasonCode : undefined, "CALLBACK_REQUESTED");
    }
  });

  it("an unknown code is a retryable failure naming it", () => {
    const mapping = mapCallResult(99);
    assert.equal(mapping.kind, "status");
    assert.match(mapping.reason, /99/);
  });

  it("only C and M (or spelled out) close a contact", () => {
    for (const s of ["C", "M", "closed", "Max Attempts"]) assert.equal(isClosedCallStatus(s), true, s);
    for (const s of ["A", "B", "J", "P", "R", "S", "U", "pending", ""]) assert.equal(isClosedCallStatus(s), false, s);
  });

  it("builds well-formed events with the raw code; the overall result decides, else the last phone's", () => {
    const at = new Date();
    const contact = {
      accountNumber: "att-1",
      callStatus: "M",
      callsMade: 3,
      callResultOverall: 0,
      phoneResults: [8, 9],
    };
    assert.equal(decidingCode(contact), 9);
    const busy = resultEvent(contact, at);
    assertCanonicalEvent(busy);
    assert.deepEqual(
      [busy.kind, busy.kind === "call-result" ? busy.outcome : "", "raw" in busy ? busy.raw : ""],
      ["call-result", "BUSY", "9"],
    );
    const dnc = resultEvent({ ...contact, callResultOverall: 26 }, at);
    assertCanonicalEvent(dnc);
    assert.equal(dnc.kind === "status" ? dnc.status : "", "BLOCKED");
    assert.equal(dnc.kind === "status" ? dnc.raw : "", "26");
  });
});

describe("cisco-cce contacts", () => {
  const request = (customer: SendRequest["customer"]): SendRequest => ({
    attemptId: "att-42",
    activityId: "act-42",
    conversationId: "conv-42",
    channel: "voice",
    customer,
    content: {},
  });

  it("writes one CSV row per contact, names without delimiters", () => {
    const row = contactRow(
      request({
        id: "c",
        firstName: 'Ada, "the"',
        lastName: "Love\nlace",
        phone: "+14155552671",
        timezone: "Europe/Paris",
      }),
      "US",
      new Date("2026-03-01T00:00:00Z"),
    );
    assert.equal(
      contactsCsv([row]),
      "AccountNumber,FirstName,LastName,Phone01,TimeZoneBias,DstObserved\natt-42,Ada   the,Love lace,4155552671,60,true\n",
    );
  });

  it("refuses a customer without a valid phone", () => {
    assert.throws(() => contactRow(request({ id: "c" }), "US", new Date()), { code: "INVALID_NUMBER" });
  });
});

describe("cisco-cce XML", () => {
  it("wraps the CSV in the documented import body", () => {
    assert.equal(
      importBody("a\n"),
      "<import><fileContent><![CDATA[a\n]]></fileContent><delimiter>,</delimiter><overwriteData>false</overwriteData></import>",
    );
  });

  it("reads a list page with its paging and per-phone results", () => {
    const page = parseContactPage(
      `<?xml version="1.0"?><results><pageInfo><resultsPerPage>2</resultsPerPage><startIndex>4</startIndex>` +
        `<totalResults>9</totalResults></pageInfo><importContacts><importContact><accountNumber>a&amp;1</accountNumber>` +
        `<callsMade>2</callsMade><callStatus>C</callStatus><callResultOverall>10</callResultOverall>` +
        `<phone01><callResult>8</callResult></phone01><phone02><callResult>10</callResult></phone02></importContact>` +
        `</importContacts></results>`,
    );
    assert.deepEqual(page, {
      startIndex: 4,
      resultsPerPage: 2,
      totalResults: 9,
      contacts: [{ accountNumber: "a&1", callsMade: 2, callStatus: "C", callResultOverall: 10, phoneResults: [8, 10] }],
    });
  });
});
