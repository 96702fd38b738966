/**
 * Live call control: what a voice plugin that places calls itself (a switch, not a vendor's
 * dialer) offers the hub's dialer service beside `send`. The dialer decides when to dial
 * (pacing, calling windows, agent seizure); the plugin only speaks the switch's protocol and
 * reports what happens to each call in this vocabulary.
 *
 * Plugins that hand contacts to a vendor's own dialer (Cisco, Five9) do not implement it: their
 * `send` appends the contact and results come back as `call-result` events.
 */
import type { VoiceOutcome } from "./status.ts";

export interface CallRequest {
  /**
   * The hub's id for the call, unique per dial; the plugin uses it as the switch's call id
   * (FreeSWITCH `origination_uuid`) so that a call can be found again after a crash.
   */
  callId: string;
  /** E.164, optionally with `;ext=` digits to send after the answer. */
  to: string;
  /** Overrides the instance's caller id. */
  callerId?: string;
  /** Overrides the instance's ring timeout. */
  ringTimeoutS?: number;
  /** Overrides the instance's answering-machine detection setting. */
  amd?: boolean;
  /** Extra switch channel variables (campaign, activity ids) echoed on the call's events. */
  variables?: Record<string, string>;
}

/** Answering-machine detection verdict. */
export type AmdVerdict = "HUMAN" | "MACHINE" | "NOTSURE";

/** What happened to a call, in order: dialing -> answered -> (amd) -> bridged -> ended. */
export type CallEvent =
  /** The switch accepted the dial and the call is ringing. */
  | { type: "dialing"; callId: string; at: Date }
  | {
      type: "answered";
      callId: string;
      at: Date;
      /** Answering-machine detection runs on the call: connect it only after its `amd` verdict. */
      amdPending?: boolean;
    }
  | { type: "amd"; callId: string; verdict: AmdVerdict; at: Date }
  | { type: "bridged"; callId: string; endpoint: string; at: Date }
  | {
      type: "ended";
      callId: string;
      /** Canonical outcome of the call. */
      outcome: VoiceOutcome;
      /** The switch's raw cause (FreeSWITCH Hangup-Cause, or the -ERR of the originate). */
      cause: string;
      /** Seconds between answer and hang-up (0 when never answered). */
      talkSeconds: number;
      at: Date;
    };

export type CallEventListener = (event: CallEvent) => void;

export interface VoiceControl {
  /**
   * Places a call. Resolves once the switch has accepted it (the call then reports `dialing`
   * and at last `ended`). Rejects with a PluginError when it was not placed:
   * `INVALID_GATEWAY` (not retryable: the configured gateway does not exist),
   * `GATEWAY_DOWN` (retryable, the contact goes back to pending, not an attempt),
   * `NETWORK_ERROR` (retryable: the switch cannot be reached).
   * A call the switch accepted and that failed at once (busy, invalid number) resolves and
   * reports `ended` with its outcome.
   */
  dial(request: CallRequest): Promise<void>;
  /** Connects an answered call to an agent's endpoint (e.g. `user/1001`). */
  bridge(callId: string, endpoint: string): Promise<void>;
  /**
   * No agent could take the answered call: plays the information message the regulator asks
   * for and hangs up; the call ends ABANDONED.
   */
  abandon(callId: string): Promise<void>;
  /** Ends a call (e.g. a campaign stopped while it rang); it reports `ended`. */
  hangup(callId: string): Promise<void>;
  /** Subscribes to the events of every call of this instance; returns the unsubscribe. */
  onCallEvent(listener: CallEventListener): () => void;
}
