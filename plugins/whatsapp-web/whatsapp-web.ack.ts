/**
 * whatsapp-web.js ACK values (`Message.ack`, event `message_ack`) in the canonical vocabulary.
 * Private to the plugin: the provider uses it for the status at send time and for ACK events.
 */
import type { AttemptStatus } from "@dialmesh/sdk";

export interface MappedAck {
  status: AttemptStatus;
  /** The library's name for the value, kept as the vendor's raw code. */
  raw: string;
}

/** `MessageAck` of whatsapp-web.js (a TypeScript enum there; plain numbers here). */
const ACKS: ReadonlyMap<number, MappedAck> = new Map<number, MappedAck>([
  [-1, { status: "FAILED", raw: "ACK_ERROR" }],
  [0, { status: "QUEUED", raw: "ACK_PENDING" }],
  [1, { status: "SENT", raw: "ACK_SERVER" }],
  [2, { status: "DELIVERED", raw: "ACK_DEVICE" }],
  [3, { status: "READ", raw: "ACK_READ" }],
  // PLAYED: a voice note or video was played; for the hub it is at least READ.
  [4, { status: "READ", raw: "ACK_PLAYED" }],
]);

/** The canonical status of an ACK value, or undefined for a value the library may add later. */
export function mapAck(ack: unknown): MappedAck | undefined {
  return typeof ack === "number" ? ACKS.get(ack) : undefined;
}
