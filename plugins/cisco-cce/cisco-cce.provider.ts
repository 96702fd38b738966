/**
 * cisco-cce: Cisco UCCE/PCCE Outbound Option. The hub does not dial: it appends each voice
 * activity as a contact of a Cisco campaign (Import API at the AW, batched), Cisco's dialer
 * works it, and the plugin reads the result back from the campaign's import list.
 *
 * - send() puts the contact into the plugin's durable outbox and resolves QUEUED with
 *   vendorId = the AccountNumber (the attemptId); a flusher per campaign imports the outbox
 *   in batches (../cisco-common/flusher.ts), and a contact Cisco refuses ends FAILED through
 *   a status event;
 * - results are `call-result` (or `status`) events through ctx.emit (cisco-cce.results.ts);
 * - actions.flush({ campaign }) deletes a campaign's imported contacts and ends the
 *   activities still open there CANCELLED;
 * - views.runtimestats shows the campaigns' runtime counters.
 *
 * What is not UCCE-specific lives in ../cisco-common/ (shared with cisco-uccx).
 */
import { definePlugin, type PluginContext, type PluginHealth } from "@dialmesh/sdk";
import {
  checkOptions,
  createCiscoOutbound,
  type CiscoOutboundDeps,
  type CiscoOutboundPlugin,
  type CiscoOutboundOptions,
} from "../cisco-common/outbound.ts";
import { CiscoAwClient } from "./cisco-cce.api.ts";
import { contactRow, contactsCsv } from "./cisco-cce.contacts.ts";
import { importListSource } from "./cisco-cce.results.ts";

/** `batchSize` is at most 10,000 (Cisco's limit per import), default 10,000. */
export type CiscoCceOptions = CiscoOutboundOptions;
export type CiscoCceDeps = CiscoOutboundDeps;

export const MAX_BATCH_SIZE = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

export type CiscoCcePlugin = CiscoOutboundPlugin;

export function createCiscoCce(ctx: PluginContext<CiscoCceOptions>, deps: CiscoCceDeps = {}): CiscoCcePlugin {
  const opts = ctx.options;
  checkOptions("cisco-cce", opts);
  const client = new CiscoAwClient({
    baseUrl: opts.baseUrl,
    username: opts.username,
    password: opts.password,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  const outbound = createCiscoOutbound(
    ctx,
    {
      names: { plugin: "cisco-cce", server: "Cisco AW", operation: "import", flushed: "imported contacts" },
      maxBatchSize: MAX_BATCH_SIZE,
      sink: {
        append: (campaignId, rows, timeoutMs) => client.importContacts(campaignId, contactsCsv(rows), timeoutMs),
        async listed(campaignId, timeoutMs) {
          const accountNumbers = new Set<string>();
          for await (const page of client.contactPages(campaignId, timeoutMs)) {
            for (const c of page) accountNumbers.add(c.accountNumber);
          }
          return accountNumbers;
        },
      },
      source: importListSource(client),
      row: contactRow,
      deleteAll: (campaignId) => client.deleteContacts(campaignId),
    },
    deps,
  );

  const health = (): Promise<PluginHealth> =>
    outbound.health(async (campaignId) => {
      const stats = await client.runtimeStats(campaignId);
      const counters = ["attemptedCount", "voiceCount", "busyCount", "answeringMachineCount", "abandonDetectCount"]
        .filter((name) => stats[name] !== undefined)
        .map((name) => `${name}=${stats[name]}`)
        .join(", ");
      return `AW reachable; campaign ${campaignId}${counters ? `: ${counters}` : ""}`;
    });

  return {
    send: outbound.send,
    health,
    views: { runtimestats: () => outbound.perCampaign((id) => client.runtimeStats(id)) },
    actions: { flush: outbound.flush },
    pollResults: outbound.pollResults,
    idle: outbound.idle,
    start: outbound.start,
    stop: outbound.stop,
  };
}

export default definePlugin<CiscoCceOptions>((ctx) => createCiscoCce(ctx));
