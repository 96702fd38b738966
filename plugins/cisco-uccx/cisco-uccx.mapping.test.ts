import assert from "node:assert/strict";
import { describe, it } from "@jest/globals";
import { assertCanonicalEvent } from "@dialmesh/sdk/contract-kit";
import type { SendRequest } from "@dialmesh/sdk";
import {
  callStatusOf,
  decidingCode,
  isClosedCallStatus,
  mapCallResult,
  resultEvent,
  UCCX_CALL_RESULTS,
} from "./cisco-uccx.mapping.ts";
import { contactRow, contactsCsv } from "./cisco-uccx.contacts.ts";
import { appendBody, parseContactList, parseImportStatus } from "./cisco-uccx.api.ts";

/** The table of docs/plugins.md (cisco-uccx): code -> canonical outcome or status. */
const EXPECTED: Record<number, string> = {
  0: "status FAILED",
  2: "FAX",
  3: "ANSWERING_MACHINE",
  4: "INVALID_NUMBER",
  10: "CONNECTED",
  11: "BUSY",
  15: "NO_ANSWER",
};

describe("cisco-uccx mapping", () => {
  it("maps every known UCCX call result code as the table says", () => {
    assert.deepEqual(Object.keys(UCCX_CALL_RESULTS).sort(), Object.keys(EXPECTED).sort());
    for (const [code, expected] of Object.entries(EXPECTED)) {
      const mapping = mapCallResult(Number(code));
      const got = mapping.kind === "status" ? `status ${mapping.status}` : mapping.outcome;
      assert.equal(got, expected, `call result ${code}`);
    }
  });

  it("an unknown code is a retryable failure naming it", () => {
    const mapping = mapCallResult(7);
    assert.deepEqual(mapping.kind === "status" ? [mapping.status, mapping.reasonCode, mapping.retryable] : [], [
      "FAILED",
      "UNKNOWN_CALL_RESULT",
      true,
    ]);
    assert.match(mapping.reason, /\b7\b/);
  });

  it("reads the call status by name, in any spelling; only CLOSED and MAX_CALLS close a contact", () => {
    assert.equal(callStatusOf(" Max Calls "), "MAX_CALLS");
    assert.equal(callStatusOf("retries-with-delay"), "RETRIES_WITH_DELAY");
    assert.equal(callStatusOf("5"), undefined, "a number is not guessed at");
    for (const s of ["CLOSED", "closed", "MAX_CALLS", "max calls"]) assert.equal(isClosedCallStatus(s), true, s);
    for (const s of ["PENDING", "ACTIVE", "CALLBACK", "RETRY", "RETRIES_WITH_DELAY", "UNKNOWN", "3", ""]) {
      assert.equal(isClosedCallStatus(s), false, s);
    }
  });

  it("builds well-formed events with the raw code; the last result decides, else the last phone's", () => {
    const at = new Date();
    const contact = {
      accountNumber: "att-1",
      callStatus: "MAX_CALLS",
      callResult: 0,
      phoneResults: [15, 11, 0],
      callsMade: 4,
    };
    assert.equal(decidingCode(contact), 11);
    const busy = resultEvent(contact, at);
    assertCanonicalEvent(busy);
    assert.deepEqual(busy.kind === "call-result" ? [busy.vendorId, busy.outcome, busy.raw, busy.retryable] : [], [
      "att-1",
      "BUSY",
      "11",
      false,
    ]);
    assert.match(busy.kind === "call-result" ? (busy.reason ?? "") : "", /MAX_CALLS, 4 call\(s\)/);
    const unknown = resultEvent({ ...contact, callResult: 42 }, at);
    assertCanonicalEvent(unknown);
    assert.deepEqual(unknown.kind === "status" ? [unknown.status, unknown.raw] : [], ["FAILED", "42"]);
  });
});

describe("cisco-uccx contacts and XML", () => {
  const request = (customer: SendRequest["customer"]): SendRequest => ({
    attemptId: "att-42",
    activityId: "act-42",
    conversationId: "conv-42",
    channel: "voice",
    customer,
    content: {},
  });

  it("writes the documented csvdata columns, Phone1 national, names without delimiters", () => {
    const row = contactRow(
      request({ id: "c", firstName: "Ada, <the>", lastName: "Love\nlace", phone: "+14155552671" }),
      "US",
    );
    assert.equal(
      contactsCsv([row]),
      "Account Number,First Name,Last Name,Phone1\natt-42,Ada  <the>,Love lace,4155552671\n",
    );
    assert.throws(() => contactRow(request({ id: "c" }), "US"), { code: "INVALID_NUMBER" });
  });

  it("names the campaign by refURL and escapes the CSV", () => {
    assert.equal(
      appendBody("https://uccx/adminapi/campaign/200", "Account Number,Phone1\na<1,123\n"),
      '<?xml version="1.0" encoding="UTF-8"?><campaignContacts><campaign><refURL>https://uccx/adminapi/campaign/200</refURL>' +
        "</campaign><allowDuplicateContacts>true</allowDuplicateContacts><csvdata>Account Number,Phone1\na&lt;1,123\n</csvdata></campaignContacts>",
    );
  });

  it("reads the contact list by column name, as Cisco's example lays it out", () => {
    const list = parseContactList(
      `<?xml version="1.0" encoding="UTF-8"?><campaignContacts><campaign name="c"><refURL>x</refURL></campaign>` +
        `<csvdata>account number, first name, last name, phone1,\n        phone2, phone3, dial time, call result, callback number, call status, ` +
        `call result 01, call result 02, call result 03, last number dialled, calls made to phone 01, calls made to phone 02, ` +
        `calls made to phone 03, retry, num missed call back\n\n` +
        `        a-1, , , 1000, , , 10:45, 15, , MAX_CALLS, 15, 0, 0, 1000, 3, 0, 0, false, 0\n` +
        `        a-2, , , 1001, 1002, , , 0, , PENDING, 0, 0, 0, , 0, 0, 0, false, 0\n</csvdata></campaignContacts>`,
    );
    assert.equal(list.mayBeTruncated, false);
    assert.deepEqual(list.contacts, [
      { accountNumber: "a-1", callStatus: "MAX_CALLS", callResult: 15, phoneResults: [15, 0, 0], callsMade: 3 },
      { accountNumber: "a-2", callStatus: "PENDING", callResult: 0, phoneResults: [0, 0, 0], callsMade: 0 },
    ]);
  });

  it("refuses a list without an account number column, and reads an empty one", () => {
    assert.throws(
      () => parseContactList("<campaignContacts><csvdata>phone1\n123</csvdata></campaignContacts>"),
      /account number/,
    );
    assert.deepEqual(parseContactList("<campaignContacts><csvdata/></campaignContacts>").contacts, []);
  });

  it("reads the import status with its importType attribute", () => {
    assert.deepEqual(
      parseImportStatus(
        `<statusDetails><campaignId>6</campaignId><importStatus><status importType="AUTO"><result>SUCCESS</result>` +
          `<numContactsImported>1</numContactsImported></status><status importType='MANUAL'><result>FAILURE</result></status>` +
          `</importStatus></statusDetails>`,
      ),
      [
        { importType: "AUTO", result: "SUCCESS", numContactsImported: 1 },
        { importType: "MANUAL", result: "FAILURE" },
      ],
    );
  });
});
