import assert from "node:assert/strict";
import { describe, it } from "@jest/globals";
import type { SendRequest } from "@dialmesh/sdk";
import {
  dispositionEvents,
  dispositionResult,
  dispositionTarget,
  e164,
  faultCode,
  faultName,
  five9Number,
  importWaitMs,
  isRetryableFault,
  parseSeconds,
  readDispositionFields,
  recordLayout,
  recordValues,
} from "./five9.mapping.ts";

const AT = new Date("2026-03-02T15:00:00Z");

describe("five9 dispositions", () => {
  it.each([
    ["No Answer", "NO_ANSWER"],
    ["busy", "BUSY"],
    ["Answering Machine", "ANSWERING_MACHINE"],
    ["Abandon", "ABANDONED"],
    ["Wrong Number", "INVALID_NUMBER"],
    ["Operator Intercept", "INVALID_NUMBER"],
    ["Do Not Call", "OPTED_OUT"],
    ["Fax", "FAX"],
    ["Callback", "CALLBACK_REQUESTED"],
    ["Dial Error", "NETWORK_ERROR"],
    ["Transferred To 3rd Party", "CONNECTED"],
  ])("system disposition %s -> %s", (name, target) => {
    assert.deepEqual(dispositionTarget(name), { target, known: true });
  });

  it("reads names trimmed, case- and space-insensitively", () => {
    assert.equal(dispositionTarget("  NO   answer ").target, "NO_ANSWER");
  });

  it("the instance's map wins over the system list and names custom dispositions", () => {
    const custom = { "Not Interested": "CONNECTED", busy: "NO_ANSWER", "Bad Lead": "INVALID_NUMBER" } as const;
    assert.equal(dispositionTarget("Busy", custom).target, "NO_ANSWER");
    assert.deepEqual(dispositionTarget("bad lead", custom), { target: "INVALID_NUMBER", known: true });
  });

  it("an unknown disposition takes unknownDisposition and says it was not mapped", () => {
    assert.deepEqual(dispositionTarget("Sold Gold Plan"), { target: "CONNECTED", known: false });
    assert.deepEqual(dispositionTarget("Sold Gold Plan", {}, "NO_ANSWER"), { target: "NO_ANSWER", known: false });
    const result = dispositionResult("Sold Gold Plan", "CONNECTED", false);
    assert.equal(result.kind === "call-result" && result.reasonCode, "UNMAPPED_DISPOSITION");
  });

  it("callback is a reached customer with reasonCode CALLBACK_REQUESTED; DNC is BLOCKED with an opt-out", () => {
    assert.deepEqual(dispositionResult("Callback", "CALLBACK_REQUESTED", true), {
      kind: "call-result",
      outcome: "CONNECTED",
      reasonCode: "CALLBACK_REQUESTED",
      reason: 'Five9 disposition "Callback"',
    });
    const dnc = dispositionResult("Do Not Call", "OPTED_OUT", true);
    assert.equal(dnc.kind, "status");
    assert.equal(dnc.kind === "status" && dnc.optOut, true);
    const scrub = dispositionResult("DNC scrub", "BLOCKED", true);
    assert.equal(scrub.kind === "status" && scrub.optOut, false);
  });

  it("events: the key as vendorId, the activity hint, the raw disposition, not retryable", () => {
    const [event] = dispositionEvents(
      { key: "att-1", activityId: "act-1", disposition: "No Answer", listName: "L", callId: "C1" },
      {},
      "CONNECTED",
      AT,
    );
    assert.deepEqual(event, {
      kind: "call-result",
      vendorId: "att-1",
      activityId: "act-1",
      outcome: "NO_ANSWER",
      raw: "No Answer",
      reason: 'Five9 disposition "No Answer" (list L, call C1)',
      retryable: false,
      at: AT,
    });
  });

  it("talk time is kept on connected calls only", () => {
    const [connected] = dispositionEvents({ key: "k", disposition: "Sale", talkSeconds: 95 }, {}, "CONNECTED", AT);
    assert.equal(connected?.kind === "call-result" && connected.talkSeconds, 95);
    const [busy] = dispositionEvents({ key: "k", disposition: "Busy", talkSeconds: 0 }, {}, "CONNECTED", AT);
    assert.equal(busy?.kind === "call-result" && busy.talkSeconds, undefined);
  });

  it("Do Not Call: a BLOCKED status and an opt-out of the number in E.164", () => {
    const events = dispositionEvents(
      { key: "k", disposition: "Do Not Call", number: "4155550101" },
      {},
      "CONNECTED",
      AT,
    );
    assert.deepEqual(
      events.map((e) => e.kind),
      ["status", "opt-out"],
    );
    assert.equal(events[0]?.kind === "status" && events[0].status, "BLOCKED");
    assert.equal(events[1]?.kind === "opt-out" && events[1].address, "+14155550101");
  });
});

describe("five9 web connector fields", () => {
  it("reads the documented names", () => {
    const read = readDispositionFields(
      {
        dialmesh_key: "att-1",
        dialmesh_activity: "act-1",
        disposition: "Busy",
        number1: "4155550101",
        call_id: "C9",
        list_name: "Renewals",
        campaign_name: "Out",
        length: "00:01:05",
      },
      "dialmesh_key",
      "dialmesh_activity",
    );
    assert.deepEqual(read, {
      ok: true,
      value: {
        key: "att-1",
        activityId: "act-1",
        disposition: "Busy",
        number: "4155550101",
        callId: "C9",
        listName: "Renewals",
        campaignName: "Out",
        talkSeconds: 65,
      },
    });
  });

  it("reads Five9's variable names", () => {
    const read = readDispositionFields(
      { "contact.my_key": "att-2", "call.disposition_name": "No Answer", "call.number": "4155550102" },
      "my_key",
      "my_activity",
    );
    assert.equal(read.ok && read.value.key, "att-2");
    assert.equal(read.ok && read.value.disposition, "No Answer");
  });

  it("names what is missing", () => {
    const read = readDispositionFields({ number1: "4155550101" }, "dialmesh_key", "dialmesh_activity");
    assert.equal(read.ok, false);
    assert.match(read.ok ? "" : read.error, /missing dialmesh_key .* and disposition/);
  });

  it.each([
    ["37", 37],
    ["01:02:03", 3723],
    ["soon", undefined],
  ])("parseSeconds(%s) = %s", (value, seconds) => {
    assert.equal(parseSeconds(value), seconds);
  });

  it.each([
    ["4155550101", "+14155550101"],
    ["14155550101", "+14155550101"],
    ["+442071838750", "+442071838750"],
    ["123", undefined],
  ])("e164(%s) = %s", (number, expected) => {
    assert.equal(e164(number), expected);
  });
});

describe("five9 faults", () => {
  it("names a fault from its detail element", () => {
    assert.equal(faultName("ns2:OperationsLimitExceededFault"), "OperationsLimitExceeded");
    assert.equal(faultName("ListNotFoundFault"), "ListNotFound");
    assert.equal(faultName(undefined), undefined);
  });

  it("retries only the faults that pass", () => {
    for (const name of ["OperationsLimitExceeded", "ConcurrentModification", "ServiceUnavailable"]) {
      assert.equal(isRetryableFault(name), true, name);
    }
    for (const name of ["ListNotFound", "WrongListData", "ImportRecordsCountLimitExceeded", undefined]) {
      assert.equal(isRetryableFault(name), false, String(name));
    }
  });

  it("codes", () => {
    assert.equal(faultCode("ListNotFound"), "FIVE9_LIST_NOT_FOUND");
    assert.equal(faultCode("WrongListData"), "FIVE9_WRONG_LIST_DATA");
    assert.equal(faultCode(undefined), "FIVE9_FAULT");
  });
});

describe("five9 records", () => {
  const request: SendRequest = {
    attemptId: "att-7",
    activityId: "act-7",
    conversationId: "c",
    channel: "voice",
    customer: { id: "cu", firstName: "Ada", lastName: "Lovelace", phone: "+14155550107" },
    content: {},
  };

  it("the key column holds the attemptId; the activity id rides along", () => {
    const layout = recordLayout("dialmesh_key", "dialmesh_activity");
    const values = recordValues(request);
    const byField = Object.fromEntries(layout.fieldsMapping.map((m) => [m.fieldName, values[m.columnNumber - 1]]));
    assert.deepEqual(byField, {
      number1: "4155550107",
      first_name: "Ada",
      last_name: "Lovelace",
      dialmesh_key: "att-7",
      dialmesh_activity: "act-7",
    });
    assert.deepEqual(
      layout.fieldsMapping.filter((m) => m.key).map((m) => m.fieldName),
      ["dialmesh_key"],
    );
  });

  it("numbers: North American without the 1, others in full", () => {
    assert.equal(five9Number("+14155550101"), "4155550101");
    assert.equal(five9Number("+442071838750"), "442071838750");
  });
});

describe("five9 call counters", () => {
  const counter = (operationType: string, value: number, limit: number) => ({
    operationType,
    value,
    limit,
    windowSeconds: 60,
  });

  it("room left: go", () => {
    assert.equal(importWaitMs([counter("SingleRecordImport", 3, 160)], "single"), 0);
  });

  it("a full single-record counter holds single inserts, not asynchronous ones", () => {
    const counters = [counter("SingleRecordImport", 160, 160), counter("AsyncMultiRecordImport", 1, 20)];
    assert.equal(importWaitMs(counters, "single"), 60_000);
    assert.equal(importWaitMs(counters, "async"), 0);
  });

  it("counters of other operations (queries, reports) do not hold imports", () => {
    assert.equal(importWaitMs([counter("Query", 450, 450), counter("ReportRequest", 9, 9)], "single"), 0);
  });
});
