/**
 * Dialer campaigns: what `PUT /api/v1/dialer/campaigns/:id` accepts (schemas/dialer-campaign.schema.json),
 * with its defaults applied, and the rules read from it (retry delay per outcome). Pure.
 */
import { Duration } from "luxon";
import type { VoiceOutcome } from "@dialmesh/sdk";
import type { PolicyName } from "../pacing/types.ts";
import { schemaValidator, toDetails, type ValidationDetail } from "../validation/json-schema.ts";

export const DIALER_MODES = ["preview", "progressive", "power", "predictive", "agentless"] as const;
export type DialerMode = (typeof DIALER_MODES)[number];

/** Outcomes a campaign may retry, each after its own delay. */
export type RetryableOutcome = "NO_ANSWER" | "BUSY" | "ANSWERING_MACHINE" | "ABANDONED" | "NETWORK_ERROR" | "FAX";

export interface DialerCampaignSpec {
  name?: string;
  mode: DialerMode;
  ratio?: number;
  ivr?: { extension: string };
  voicePlugin: string;
  queue?: string;
  maxConcurrentCalls: number;
  callsPerSecond: number;
  ringTimeoutS?: number;
  callerId?: string;
  jurisdiction?: string;
  abandonTarget: number;
  priority: number;
  maxAttempts: number;
  retry: Partial<Record<RetryableOutcome, string>>;
  preview: { timeoutS: number; maxSkips: number };
  dialingOrder: "FIFO" | "LIFO";
  wrapUpS: number;
  /** DNC lists checked before every dial, in order (each must exist when the campaign is stored). */
  dncLists?: string[];
}

/** Whether the campaign's contacts are dialled (started) or held (stopped). */
export type CampaignState = "running" | "stopped";

const DEFAULTS = {
  maxConcurrentCalls: 30,
  callsPerSecond: 10,
  abandonTarget: 0.03,
  priority: 5,
  maxAttempts: 3,
  retry: {},
  dialingOrder: "FIFO",
  wrapUpS: 5,
} as const;

/**
 * The campaign with its defaults, or the problems as JSON pointers into the body. `knownJurisdiction`
 * says whether a jurisdiction code has rules (config/regulation/).
 */
export function parseCampaign(
  body: unknown,
  knownJurisdiction: (code: string) => boolean,
): { ok: true; spec: DialerCampaignSpec } | { ok: false; details: ValidationDetail[] } {
  const validate = schemaValidator("dialer-campaign.schema.json");
  if (!validate(body)) return { ok: false, details: toDetails(validate.errors) };
  const input = body as Partial<DialerCampaignSpec> & Pick<DialerCampaignSpec, "mode" | "voicePlugin">;
  if (input.jurisdiction && !knownJurisdiction(input.jurisdiction)) {
    return {
      ok: false,
      details: [{ path: "/jurisdiction", message: `has no rules in config/regulation (e.g. US, GB, CA)` }],
    };
  }
  const spec: DialerCampaignSpec = {
    ...DEFAULTS,
    ...input,
    retry: { ...input.retry },
    preview: { timeoutS: input.preview?.timeoutS ?? 30, maxSkips: input.preview?.maxSkips ?? 3 },
  };
  return { ok: true, spec };
}

/**
 * The pacing policy that decides how many calls a campaign places. Agentless fills its lines
 * and preview dials on the agents' choices (preview.ts): neither asks a policy.
 */
export function policyFor(mode: DialerMode): PolicyName | undefined {
  return mode === "agentless" || mode === "preview" ? undefined : mode;
}

/** Delay before the next attempt after `outcome`, or undefined when the campaign does not retry it. */
export function retryDelayMs(spec: DialerCampaignSpec, outcome: VoiceOutcome): number | undefined {
  const iso = spec.retry[outcome as RetryableOutcome];
  if (!iso) return undefined;
  return Duration.fromISO(iso).toMillis();
}

/**
 * How a call's outcome ends the attempt for the activity's plan: retryable (with the campaign's
 * delay) only when the campaign has a delay for that outcome and attempts remain.
 */
export function retryRule(
  spec: DialerCampaignSpec,
  outcome: VoiceOutcome,
  attemptNumber: number,
): { retryable: boolean; retryAfterMs?: number } {
  const delay = retryDelayMs(spec, outcome);
  if (delay === undefined || attemptNumber >= spec.maxAttempts) return { retryable: false };
  return { retryable: true, retryAfterMs: delay };
}
