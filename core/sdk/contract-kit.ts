/**
 * The plugin contract test kit: the behaviour every plugin must show. A plugin's test file
 * calls `runPluginContract(harness)` with a harness that points the plugin at a local server
 * speaking the vendor's protocol. Implemented with node:test.
 */
import type { Channel, Customer, InboundRequest, PluginContext } from "./plugin.ts";

export interface ContractHarness<Options> {
  /** Absolute path of the plugin folder (holds plugin.json). */
  pluginDir: string;
  channel: Channel;
  /** A customer the local vendor accepts. */
  customer: Customer;
  /** Starts the local vendor server; returns valid options that point at it. */
  setup(): Promise<Options>;
  teardown(): Promise<void>;
  /** Options that the plugin's schema must refuse, each with the reason. */
  invalidOptions: { options: unknown; why: string }[];
  /** Make the vendor refuse the next send for good (e.g. SMTP 550, Twilio 21211). */
  failNextPermanently(): void;
  /** Make the vendor fail the next send transiently (e.g. SMTP 451, HTTP 429/503). */
  failNextTransiently(): void;
  /** Number of messages the vendor has accepted so far. */
  acceptedCount(): number;
  /** For plugins with webhooks: a status callback for `vendorId` signed as the vendor signs it. */
  signedStatusCallback?(vendorId: string, options: Options): InboundRequest;
  /** The same callback with a missing or wrong signature. */
  forgedStatusCallback?(vendorId: string, options: Options): InboundRequest;
  /** Extra context fields (conversations lookup, emit collector). */
  context?: Partial<PluginContext<Options>>;
}
