/**
 * cisco-uccx end to end (the scenario of cisco-dialer-scenario.ts) against the local UCCX
 * Admin API: UCCX result codes (10 connected, 15 no answer, 11 busy), a first dialer pass that
 * retries everyone, then CLOSED / MAX_CALLS.
 */
import { startCiscoUccxServer } from "../vendors/cisco-uccx-server.ts";
import { describeDialerThroughHub } from "./cisco-dialer-scenario.ts";

describeDialerThroughHub({
  plugin: "cisco-uccx",
  pluginId: "uccx",
  rawCodes: { connected: "10", noAnswer: "15" },
  third: { status: "BUSY" },
  async startVendor() {
    const campaignId = 200;
    const uccx = await startCiscoUccxServer({ campaigns: [campaignId] });
    return {
      baseUrl: uccx.baseUrl,
      username: uccx.username,
      password: uccx.password,
      campaignId,
      appliedAppends: () => uccx.appliedAppends().length,
      rowCount: (accountNumber) => uccx.rowCount(accountNumber),
      campaignSize: () => uccx.campaignContacts(campaignId).length,
      flushPath: `/adminapi/campaign/${campaignId}/contacts`,
      saw: (method, path) => uccx.requests.some((r) => r.method === method && r.path === path),
      dial(connected, unreached, busy) {
        // A first pass reaches nobody and UCCX will retry: nothing is final yet.
        uccx.dialAll(campaignId, () => ({ callResult: 15, callStatus: "RETRY" }));
        uccx.setResult(campaignId, connected, { callResult: 10, callStatus: "CLOSED" });
        uccx.setResult(campaignId, unreached, { callResult: 15, callStatus: "MAX_CALLS" });
        uccx.setResult(campaignId, busy, { callResult: 11, callStatus: "MAX_CALLS" });
      },
      rejectNextAppend: () => uccx.rejectNext(),
      stop: () => uccx.stop(),
    };
  },
});
