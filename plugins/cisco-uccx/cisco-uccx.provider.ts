/**
 * cisco-uccx: Cisco Unified CCX outbound. The hub does not dial: it appends each voice
 * activity as a contact of a UCCX campaign (Admin API, `POST /adminapi/campaign/<id>/contacts`,
 * batched), UCCX's dialer works it, and the plugin reads the result back from the campaign's
 * contact list.
 *
 * - send() resolves QUEUED with vendorId = the account number (the attemptId) once UCCX
 *   accepted the append (see ../cisco-common/batcher.ts: 503s retried, lost answers
 *   reconciled against the list, 400s fail only the rows UCCX names);
 * - results are `call-result` (or `status`) events through ctx.emit (cisco-uccx.mapping.ts);
 * - actions.flush({ campaign }) deletes the campaign's contacts and ends the activities still
 *   open there CANCELLED;
 * - views.importstatus shows the campaigns' last import status.
 */
import { definePlugin, type PluginContext, type PluginHealth } from "@dialmesh/sdk";
import { CiscoApiError } from "../cisco-common/http.ts";
import {
  checkOptions,
  createCiscoOutbound,
  type CiscoOutboundDeps,
  type CiscoOutboundPlugin,
  type CiscoOutboundOptions,
} from "../cisco-common/outbound.ts";
import type { ResultSource } from "../cisco-common/poller.ts";
import { MAX_LISTED, UccxAdminClient, type UccxContact } from "./cisco-uccx.api.ts";
import { contactRow, contactsCsv, type UccxContactRow } from "./cisco-uccx.contacts.ts";
import { isClosedCallStatus, resultEvent } from "./cisco-uccx.mapping.ts";

/** `batchSize` is at most 10,000, default 10,000. */
export type CiscoUccxOptions = CiscoOutboundOptions;
export type CiscoUccxDeps = CiscoOutboundDeps;

export const MAX_BATCH_SIZE = MAX_LISTED;
const REQUEST_TIMEOUT_MS = 30_000;

export type CiscoUccxPlugin = CiscoOutboundPlugin;

export function createCiscoUccx(ctx: PluginContext<CiscoUccxOptions>, deps: CiscoUccxDeps = {}): CiscoUccxPlugin {
  const opts = ctx.options;
  checkOptions("cisco-uccx", opts);
  const client = new UccxAdminClient({
    baseUrl: opts.baseUrl,
    username: opts.username,
    password: opts.password,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  /** Campaigns whose last list reached UCCX's 10,000 records: results beyond are not seen. */
  const truncatedCampaigns = new Set<number>();

  const source: ResultSource<UccxContact> = {
    async *pages(campaignId) {
      const list = await client.listContacts(campaignId);
      if (list.mayBeTruncated) truncatedCampaigns.add(campaignId);
      else truncatedCampaigns.delete(campaignId);
      yield list.contacts;
    },
    accountNumber: (contact) => contact.accountNumber,
    isClosed: (contact) => isClosedCallStatus(contact.callStatus),
    event: resultEvent,
  };

  const outbound = createCiscoOutbound<UccxContactRow, UccxContact>(
    ctx,
    {
      names: { plugin: "cisco-uccx", server: "UCCX server", operation: "append", flushed: "contacts" },
      maxBatchSize: MAX_BATCH_SIZE,
      sink: {
        append: (campaignId, rows, timeoutMs) => client.appendContacts(campaignId, contactsCsv(rows), timeoutMs),
        async listed(campaignId, timeoutMs) {
          const list = await client.listContacts(campaignId, timeoutMs);
          // A cut list cannot say a contact is missing: sending again could append it twice.
          if (list.mayBeTruncated) {
            throw new CiscoApiError(
              "answer-lost",
              `UCCX lists at most ${MAX_LISTED} contacts of campaign ${campaignId}: cannot tell whether the append was applied`,
            );
          }
          return new Set(list.contacts.map((c) => c.accountNumber));
        },
      },
      source,
      row: (request, defaultRegion) => contactRow(request, defaultRegion),
      deleteAll: async (campaignId) => {
        await client.deleteContacts(campaignId);
        truncatedCampaigns.delete(campaignId);
      },
    },
    deps,
  );

  const health = (): Promise<PluginHealth> =>
    outbound.health(async (campaignId) => {
      const imports = await client.importStatus(campaignId);
      const last = imports.map((s) => `${s.importType || "import"} ${s.result}`).join(", ");
      const cut = [...truncatedCampaigns];
      const cutNote =
        cut.length > 0
          ? `; campaign(s) ${cut.join(", ")} list ${MAX_LISTED}+ contacts: results beyond are not seen`
          : "";
      return `UCCX reachable; campaign ${campaignId}${last ? `: ${last}` : ""}${cutNote}`;
    });

  return {
    send: outbound.send,
    health,
    views: { importstatus: () => outbound.perCampaign((id) => client.importStatus(id)) },
    actions: { flush: outbound.flush },
    pollResults: outbound.pollResults,
    idle: outbound.idle,
    start: outbound.start,
    stop: outbound.stop,
  };
}

export default definePlugin<CiscoUccxOptions>((ctx) => createCiscoUccx(ctx));
