/**
 * Erasure and export through the REST API, on a real hub on FerretDB: a customer with an SMS
 * (and its reply), an email, webhook deliveries, a rejected import row, consents, an objection
 * and a suppression is exported, then erased; afterwards no document of any collection of the
 * database holds their email, phone, names or id; the suppression and the objection still block.
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { MongoClient } from "mongodb";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { startReceiver, type Receiver } from "../webhooks/receiver.ts";
import { eventually, startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";
import { deliver, schedule, waitForActivity, webhookUrl, type AttemptView } from "../e2e/digital-helpers.ts";

const CUSTOMER = {
  id: "prv-7c1",
  firstName: "Zelphine",
  lastName: "Quarrington",
  email: "zelphine.q@example.com",
  phone: "+14155550177",
};
/** What must be nowhere after the erasure (compared lower-case; the phone also as digits). */
const ERASED = [CUSTOMER.id, CUSTOMER.firstName, CUSTOMER.lastName, CUSTOMER.email, CUSTOMER.phone, "4155550177"];

interface ExportView {
  customer: { email: string } | null;
  consents: { kind: string }[];
  activities: { id: string; content: { text?: string } }[];
  conversations: { id: string; timeline: { type: string; text?: string }[] }[];
  suppressions: { address: string }[];
  importRejects: { raw: string[] }[];
}

interface EraseView {
  result: string;
  counts: Record<string, number | undefined>;
}

describe("erasure and export", () => {
  let smtp: LocalSmtpServer;
  let twilio: TwilioTestServer;
  let receiver: Receiver;
  let hub: TestHub;
  const mongoUrl = freshDatabaseUrl("privacy");

  beforeAll(async () => {
    smtp = await startSmtpServer();
    twilio = await startTwilioServer();
    receiver = await startReceiver();
    hub = await startTestHub(
      {
        plugins: [
          {
            id: "mail",
            use: "email-smtp",
            options: { host: "127.0.0.1", port: smtp.port, from: "noreply@example.com" },
          },
          {
            id: "tw",
            use: "sms-twilio",
            channels: ["sms"],
            options: twilio.pluginOptions({ from: "+15005550006", maxPerSecond: 100 }),
          },
        ],
        // One step per activity: no email fallback after the SMS.
        fallbacks: { default: { steps: [{ channel: "sms" }] } },
      },
      { mongoUrl },
    );
    const sub = await hub.api("POST", "/api/v1/webhooks", {
      url: receiver.url,
      events: ["*"],
      secret: "privacy-subscriber-secret-0123456789",
    });
    assert.equal(sub.status, 201, sub.text);
  });
  afterAll(async () => {
    await hub?.stop();
    await receiver?.close();
    await twilio?.stop();
    await smtp?.stop();
  });

  async function settled(body: Record<string, unknown>): Promise<AttemptView> {
    const id = await schedule(hub, body);
    const a = await waitForActivity(
      hub,
      id,
      (v) => v.attempts.length >= 1 && v.nextRunAt === null && !["SCHEDULED", "DISPATCHING"].includes(v.status),
      "a settled attempt",
    );
    return a.attempts[0]!;
  }

  async function importRejectedRow(): Promise<void> {
    const csv = [
      "Account ID,First Name,Last Name,Email,Phone",
      `${CUSTOMER.id},${CUSTOMER.firstName},${CUSTOMER.lastName},not-an-email,415 555 0177`,
      "prv-other,Other,Person,other@example.org,+14155550999",
    ].join("\r\n");
    const form = new FormData();
    form.append(
      "options",
      JSON.stringify({
        mapping: {
          "Account ID": "id",
          "First Name": "firstName",
          "Last Name": "lastName",
          Email: "email",
          Phone: "phones[0]",
        },
        dedupeKey: "id",
        defaultRegion: "US",
        mode: "upsert",
      }),
    );
    form.append("file", new Blob([csv], { type: "text/csv" }), "customers.csv");
    const res = await fetch(`${hub.apiUrl}/api/v1/imports`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TEST_KEYS.admin}` },
      body: form,
    });
    const job = (await res.json()) as { id: string };
    assert.ok(res.status < 300, JSON.stringify(job));
    const done = await eventually(async () => {
      const j = (await hub.api("GET", `/api/v1/imports/${job.id}`)).body as { state: string; rejected: number };
      return j.state === "completed" && j;
    });
    assert.equal(done.rejected, 1);
  }

  /** Every document of every collection, as lower-case JSON, with the erased values it holds. */
  async function scan(values: readonly string[] = ERASED): Promise<string[]> {
    const client = await MongoClient.connect(mongoUrl);
    try {
      const db = client.db();
      const found: string[] = [];
      for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
        for (const doc of await db.collection(name).find({}).toArray()) {
          const text = JSON.stringify(doc).toLowerCase();
          for (const v of values)
            if (text.includes(v.toLowerCase())) found.push(`${name}: ${v} in ${text.slice(0, 300)}`);
        }
      }
      return found;
    } finally {
      await client.close();
    }
  }

  test("export holds everything; erase leaves no trace in any collection; suppression and objection still block", async () => {
    const { id, phone: _p, ...fields } = CUSTOMER;
    const put = await hub.api("PUT", `/api/v1/customers/${id}`, { ...fields, phones: [CUSTOMER.phone] });
    assert.equal(put.status, 201, put.text);

    const sms = await settled({
      customer: { id },
      channel: "sms",
      purpose: "service",
      // A campaign's conversation id is a plain hash of the campaign and customer ids.
      campaignId: "parcels",
      content: { text: `Hi ${CUSTOMER.firstName}, your parcel is on its way` },
    });
    assert.equal(sms.status, "QUEUED", JSON.stringify(sms));
    const reply = await deliver(
      hub,
      twilio.inboundMessage(webhookUrl("tw"), CUSTOMER.phone, `${CUSTOMER.firstName} here, call me`),
    );
    assert.equal(reply.status, 200, reply.body);
    const email = await settled({
      customer: { id },
      channel: "email",
      content: { subject: "Receipt", text: `Dear ${CUSTOMER.lastName}` },
    });
    assert.equal(email.status, "SENT", JSON.stringify(email));
    await importRejectedRow();
    for (const [path, body] of [
      ["consents", { channel: "sms", purpose: "service", granted: true, source: "web", evidence: CUSTOMER.email }],
      ["objections", { purpose: "marketing", source: "phone call", evidence: `${CUSTOMER.lastName} said so` }],
    ] as const) {
      const res = await hub.api("POST", `/api/v1/customers/${id}/${path}`, body, TEST_KEYS.writer);
      assert.equal(res.status, 201, res.text);
    }
    assert.equal((await hub.api("POST", "/api/v1/suppressions", { address: CUSTOMER.email })).status, 201);
    // Webhook payloads of the activities and the reply, kept by the outbox.
    await receiver.waitFor(3);

    // Export: admin only, and everything held.
    assert.equal((await hub.api("GET", `/api/v1/customers/${id}/export`, undefined, TEST_KEYS.writer)).status, 403);
    const exported = await hub.api("GET", `/api/v1/customers/${id}/export`);
    assert.equal(exported.status, 200, exported.text);
    const x = exported.body as ExportView;
    assert.equal(x.customer?.email, CUSTOMER.email);
    assert.equal(x.activities.length, 2);
    assert.ok(x.activities.some((a) => a.content.text?.includes("parcel")));
    assert.deepEqual(x.consents.map((c) => c.kind).sort(), ["consent", "objection"]);
    const events = x.conversations.flatMap((c) => c.timeline);
    assert.ok(events.some((e) => e.type === "REPLIED" && e.text === `${CUSTOMER.firstName} here, call me`));
    assert.deepEqual(
      x.suppressions.map((s) => s.address),
      [CUSTOMER.email],
    );
    assert.equal(x.importRejects.length, 1);
    assert.ok(x.importRejects[0]!.raw.includes(CUSTOMER.lastName));
    assert.ok((await scan()).length > 0, "the scan finds the customer before the erasure");

    // Erase: admin only; counts per kind; then nothing left anywhere.
    assert.equal((await hub.api("POST", `/api/v1/customers/${id}/erase`, undefined, TEST_KEYS.writer)).status, 403);
    const erased = await eventually(async () => {
      const res = await hub.api("POST", `/api/v1/customers/${id}/erase`);
      // 409: an activity was held by a node at that moment; erasure is idempotent, so retry.
      return res.status === 200 ? (res.body as EraseView) : res.status === 409 ? undefined : assert.fail(res.text);
    });
    assert.equal(erased.result, "erased");
    assert.equal(erased.counts.customers, 1);
    assert.equal(erased.counts.activities, 2);
    assert.equal(erased.counts.importRejects, 1);
    assert.equal(erased.counts.objectionsKept, 1);
    assert.equal(erased.counts.consents, 1);
    assert.equal(erased.counts.suppressionsHashed, 2, "the email's entry, and the phone's for the objection");
    assert.ok((erased.counts.webhookDeliveries ?? 0) >= 3, JSON.stringify(erased.counts));
    assert.ok((erased.counts.timelineEvents ?? 0) >= 1, JSON.stringify(erased.counts));
    assert.deepEqual(await scan([...ERASED, ...x.conversations.map((c) => c.id)]), []);

    // Idempotent; unknown customers are 404.
    const again = await hub.api("POST", `/api/v1/customers/${id}/erase`);
    assert.equal(again.status, 200, again.text);
    assert.equal((again.body as EraseView).result, "already-erased");
    assert.equal((await hub.api("POST", "/api/v1/customers/never-seen/erase")).status, 404);
    assert.equal((await hub.api("GET", `/api/v1/customers/${id}/export`)).status, 404);

    // The suppression still blocks the email, by its keyed hash; the objection blocks marketing
    // to the phone (another customer id) and to the id (another phone); service still goes.
    const check = await hub.api("GET", `/api/v1/suppressions/${encodeURIComponent(CUSTOMER.email)}`);
    assert.deepEqual(check.body, {
      suppressed: true,
      reason: "suppressed before the customer was erased",
      since: (check.body as { since: string }).since,
    });
    const phoneCheck = await hub.api("GET", `/api/v1/suppressions/${encodeURIComponent(CUSTOMER.phone)}`);
    assert.deepEqual((phoneCheck.body as { purposes?: string[] }).purposes, ["marketing"]);
    const cases: [string, Record<string, unknown>, string, string | undefined][] = [
      ["any email", { customer: { id: "prv-new", email: CUSTOMER.email }, channel: "email" }, "BLOCKED", "SUPPRESSED"],
      [
        "marketing to the phone",
        { customer: { id: "prv-new", phone: CUSTOMER.phone }, channel: "sms", purpose: "marketing" },
        "BLOCKED",
        "SUPPRESSED",
      ],
      [
        "marketing to the id",
        { customer: { id, phone: "+14155550188" }, channel: "sms", purpose: "marketing" },
        "BLOCKED",
        "OBJECTION",
      ],
      [
        "service to the phone",
        { customer: { id: "prv-new", phone: CUSTOMER.phone }, channel: "sms", purpose: "service" },
        "QUEUED",
        undefined,
      ],
    ];
    for (const [what, body, status, reasonCode] of cases) {
      const attempt = await settled({ ...body, content: { text: "offer" } });
      assert.deepEqual([attempt.status, attempt.reasonCode], [status, reasonCode], what);
    }
  });
});
