/** The local vendor servers speak the documented shapes, and their signed webhooks survive real HTTP. */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it, beforeAll, afterAll } from "@jest/globals";
import type { InboundRequest } from "@dialmesh/sdk";
import { createTestContext } from "@dialmesh/sdk/contract-kit";
import { createSmsTwilio, type SmsTwilioOptions } from "../../plugins/sms-twilio/sms-twilio.provider.ts";
import {
  createWhatsAppCloud,
  type WhatsAppCloudOptions,
} from "../../plugins/whatsapp-cloud/whatsapp-cloud.provider.ts";
import { deliverInbound } from "./deliver.ts";
import { startGraphServer, type GraphTestServer } from "./graph-server.ts";
import { startTwilioServer, type TwilioTestServer } from "./twilio-server.ts";

const PUBLIC = "https://hub.test";

describe("local vendor servers", () => {
  let twilio: TwilioTestServer;
  let graph: GraphTestServer;
  beforeAll(async () => {
    twilio = await startTwilioServer();
    graph = await startGraphServer();
  });
  afterAll(async () => {
    await twilio.stop();
    await graph.stop();
  });

  it("Twilio: 401 with Twilio's error body without valid basic auth", async () => {
    const res = await fetch(`${twilio.baseUrl}/2010-04-01/Accounts/${twilio.accountSid}/Messages.json`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${twilio.accountSid}:wrong`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "To=%2B14155552671&From=%2B15005550006&Body=hi",
    });
    assert.equal(res.status, 401);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.code, 20003);
    assert.equal(body.status, 401);
    assert.equal(typeof body.message, "string");
    assert.equal(body.more_info, "https://www.twilio.com/docs/errors/20003");
    assert.equal(twilio.messages.length, 0);
  });

  it("Twilio: 400 21211 for an invalid To, resource shape on success", async () => {
    const post = (to: string) =>
      fetch(`${twilio.baseUrl}/2010-04-01/Accounts/${twilio.accountSid}/Messages.json`, {
        method: "POST",
        headers: {
          authorization: `Basic ${Buffer.from(`${twilio.accountSid}:${twilio.authToken}`).toString("base64")}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams({ To: to, From: "+15005550006", Body: "hi" }).toString(),
      });
    const bad = await post("12");
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { code: number }).code, 21211);
    const ok = await post("+14155552671");
    assert.equal(ok.status, 201);
    const resource = (await ok.json()) as Record<string, unknown>;
    assert.match(String(resource.sid), /^SM[0-9a-f]{32}$/);
    assert.equal(resource.status, "queued");
    assert.equal(resource.direction, "outbound-api");
  });

  it("Graph: 401 code 190 without the bearer token; Graph error shape", async () => {
    const res = await fetch(`${graph.baseUrl}/v21.0/${graph.phoneNumberId}/messages`, {
      method: "POST",
      headers: { authorization: "Bearer nope", "content-type": "application/json" },
      body: JSON.stringify({ messaging_product: "whatsapp", to: "34612345678", type: "text", text: { body: "x" } }),
    });
    assert.equal(res.status, 401);
    const body = (await res.json()) as { error: Record<string, unknown> };
    assert.equal(body.error.code, 190);
    assert.equal(body.error.type, "OAuthException");
    assert.equal(typeof body.error.fbtrace_id, "string");
  });

  it("signed webhooks keep their signature across real HTTP (deliverInbound)", async () => {
    const sms = createSmsTwilio(
      createTestContext<SmsTwilioOptions>({
        accountSid: twilio.accountSid,
        authToken: twilio.authToken,
        from: "+15005550006",
        baseUrl: twilio.baseUrl,
      }).context,
    );
    const wa = createWhatsAppCloud(
      createTestContext<WhatsAppCloudOptions>(graph.pluginOptions() as unknown as WhatsAppCloudOptions).context,
    );
    // A minimal stand-in for the hub's /webhooks/<id> route.
    const hub = createServer(async (req, res) => {
      const raw = await read(req);
      const url = `${PUBLIC}${req.url ?? "/"}`;
      const inbound: InboundRequest = {
        method: req.method === "GET" ? "GET" : "POST",
        url,
        headers: Object.fromEntries(
          Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : v]),
        ),
        query: Object.fromEntries(new URL(url).searchParams),
        rawBody: raw,
      };
      const plugin = req.url?.startsWith("/webhooks/sms") ? sms : wa;
      const handle = plugin.handleInbound?.bind(plugin);
      if (!handle) throw new Error("no handleInbound");
      const result = await handle(inbound);
      res.writeHead(result.response.status, { "content-type": result.response.contentType ?? "text/plain" });
      res.end(`${result.response.body ?? ""}|${result.events.map((e) => e.kind).join(",")}`);
    });
    await new Promise<void>((resolve) => hub.listen(0, "127.0.0.1", resolve));
    const target = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
    try {
      const status = await deliverInbound(twilio.statusCallback(`${PUBLIC}/webhooks/sms`, "SM1", "delivered"), target);
      assert.equal(status.status, 200);
      assert.match(status.body, /<Response\/>\|status$/);
      const stop = await deliverInbound(
        twilio.inboundMessage(`${PUBLIC}/webhooks/sms`, "+14155552671", "STOP"),
        target,
      );
      assert.match(stop.body, /\|reply,opt-out$/);
      const forged = await deliverInbound(
        twilio.statusCallback(`${PUBLIC}/webhooks/sms`, "SM1", "delivered", { authToken: "x" }),
        target,
      );
      assert.equal(forged.status, 403);

      const handshake = await deliverInbound(graph.verification(`${PUBLIC}/webhooks/wa`, { challenge: "42" }), target);
      assert.equal(handshake.status, 200);
      assert.equal(handshake.body, "42|");
      const read_ = await deliverInbound(
        graph.statusWebhook(`${PUBLIC}/webhooks/wa`, [{ id: "wamid.1", status: "read" }]),
        target,
      );
      assert.equal(read_.status, 200);
      assert.equal(read_.body, "OK|status");
    } finally {
      hub.closeAllConnections();
      await new Promise<void>((resolve) => hub.close(() => resolve()));
    }
  });
});

async function read(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
