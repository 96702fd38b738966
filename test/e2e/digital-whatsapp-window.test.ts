/**
 * The WhatsApp 24-hour customer-service window through the hub: without a message from the
 * customer, whatsapp-cloud sends the activity's approved template (or fails clearly without
 * one); after a signed inbound message, the hub tells the plugin when the customer last wrote
 * and it sends free-form text.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { startGraphServer, type GraphTestServer } from "../vendors/graph-server.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { deliver, schedule, timeline, waitForActivity, webhookUrl, type ActivityView } from "./digital-helpers.ts";

describe("whatsapp-cloud 24-hour window through the hub", () => {
  let graph: GraphTestServer;
  let hub: TestHub;

  beforeAll(async () => {
    graph = await startGraphServer();
    hub = await startTestHub({ plugins: [{ id: "wa", use: "whatsapp-cloud", options: graph.pluginOptions() }] });
  });
  afterAll(async () => {
    await hub?.stop();
    await graph?.stop();
  });

  const template = { name: "appointment_reminder", language: "en_US", parameters: ["{{firstName}}", "Tuesday"] };

  async function send(phone: string, content: Record<string, unknown>): Promise<ActivityView> {
    const id = await schedule(hub, {
      customer: { id: `win-${phone}`, firstName: "Ada", phone },
      channel: "whatsapp",
      content,
    });
    return waitForActivity(
      hub,
      id,
      (a) => a.attempts.length > 0 && a.attempts[0]!.status !== "DISPATCHING",
      "the WhatsApp attempt",
    );
  }

  test("template outside the window, text after the customer wrote", async () => {
    const phone = "+447911123456";
    const content = { text: "Hi {{firstName}}, see you Tuesday?", template };

    // No prior inbound message: the template, placeholders filled from the customer.
    const first = await send(phone, content);
    assert.equal(first.attempts[0]!.status, "QUEUED");
    const m1 = graph.messages.at(-1)!;
    assert.equal(m1.to, "447911123456");
    assert.equal(m1.type, "template");
    assert.deepEqual(m1.body.template, {
      name: "appointment_reminder",
      language: { code: "en_US" },
      components: [
        {
          type: "body",
          parameters: [
            { type: "text", text: "Ada" },
            { type: "text", text: "Tuesday" },
          ],
        },
      ],
    });

    // Text only, window closed, no template anywhere: a clear, permanent failure; nothing sent.
    const count = graph.messages.length;
    const refused = await send(phone, { text: "Just text" });
    assert.equal(refused.attempts[0]!.status, "FAILED");
    assert.equal(refused.attempts[0]!.reasonCode, "TEMPLATE_REQUIRED");
    assert.equal(refused.attempts[0]!.retryable, false);
    assert.match(refused.attempts[0]!.reason ?? "", /24-hour customer-service window is closed/);
    assert.equal(graph.messages.length, count);

    // The customer writes (signed webhook through the hub): the window opens.
    const inbound = graph.messageWebhook(webhookUrl("wa"), [{ from: "447911123456", text: "Hello!" }]);
    assert.equal((await deliver(hub, inbound)).status, 200);
    const replies = (await timeline(hub, first.conversationId)).filter((e) => e.type === "REPLIED");
    assert.equal(replies.length, 1);

    const second = await send(phone, content);
    assert.equal(second.attempts[0]!.status, "QUEUED");
    const m2 = graph.messages.at(-1)!;
    assert.equal(m2.type, "text");
    assert.deepEqual(m2.body.text, { body: "Hi Ada, see you Tuesday?", preview_url: false });

    const textOnly = await send(phone, { text: "Just text" });
    assert.equal(textOnly.attempts[0]!.status, "QUEUED");
    assert.equal(graph.messages.at(-1)!.type, "text");

    // The window belongs to that customer: another number still gets the template.
    await send("+447911123457", content);
    assert.equal(graph.messages.at(-1)!.type, "template");
    assert.equal(graph.messages.at(-1)!.to, "447911123457");
  });

  test("an SMS reply does not open the WhatsApp window", async () => {
    // The window is per channel: only a WhatsApp message from the customer opens it. Record an
    // SMS reply for the number through the ingester, as an SMS plugin would report it.
    const phone = "+447911123458";
    await hub.broker.call("ccm.ingest", {
      pluginId: "sms-elsewhere",
      events: [{ kind: "reply", channel: "sms", from: phone, text: "hi by SMS", vendorId: "SMx1", at: new Date() }],
    });
    await send(phone, { text: "Hi", template });
    assert.equal(graph.messages.at(-1)!.type, "template");
  });
});
