/**
 * cisco-cce end to end (the scenario of cisco-dialer-scenario.ts) against the local AW: the
 * import list's Dialer_Detail codes (10 connected, 8 no answer, 26 DNC), `C`/`M` closing.
 */
import { startCiscoAwServer } from "../vendors/cisco-aw-server.ts";
import { describeDialerThroughHub } from "./cisco-dialer-scenario.ts";

describeDialerThroughHub({
  plugin: "cisco-cce",
  pluginId: "cce",
  rawCodes: { connected: "10", noAnswer: "8" },
  third: { status: "BLOCKED", reasonCode: "DNC" },
  async startVendor() {
    const campaignId = 5001;
    const aw = await startCiscoAwServer({ campaigns: [campaignId] });
    return {
      baseUrl: aw.baseUrl,
      username: aw.username,
      password: aw.password,
      campaignId,
      appliedAppends: () => aw.appliedImports().length,
      rowCount: (accountNumber) => aw.rowCount(accountNumber),
      campaignSize: () => aw.campaignContacts(campaignId).length,
      flushPath: `/unifiedconfig/config/campaign/${campaignId}/import`,
      saw: (method, path) => aw.requests.some((r) => r.method === method && r.path === path),
      dial(connected, unreached, blocked) {
        aw.setResult(campaignId, connected, { callResult: 10, callStatus: "C" });
        aw.setResult(campaignId, unreached, { callResult: 8, callStatus: "M" });
        aw.setResult(campaignId, blocked, { callResult: 26, callStatus: "C" });
      },
      rejectNextAppend: () => aw.rejectNext(),
      stop: () => aw.stop(),
    };
  },
});
