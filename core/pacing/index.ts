/** The pacing policies by name: what the dialer service and the simulator both resolve. */
import { createPowerPolicy, DEFAULT_POWER, type PowerOptions } from "./power.ts";
import { createOraclePolicy, createPredictivePolicy, type PredictiveOptions } from "./predictive.ts";
import { createPreviewPolicy, DEFAULT_PREVIEW, type PreviewOptions } from "./preview.ts";
import { createProgressivePolicy } from "./progressive.ts";
import { POLICY_NAMES, type PacingPolicy, type PolicyName } from "./types.ts";
import { createVicidialPolicy, type VicidialSettings } from "./vicidial-adaptive.ts";

export * from "./types.ts";
export { PacingStatisticsTracker } from "./statistics.ts";

export interface PolicyOptions {
  preview?: Partial<PreviewOptions>;
  power?: Partial<PowerOptions>;
  predictive?: Partial<PredictiveOptions>;
  vicidial?: Partial<VicidialSettings>;
}

export function isPolicyName(name: string): name is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(name);
}

export function createPolicy(name: PolicyName, options: PolicyOptions = {}): PacingPolicy {
  switch (name) {
    case "preview":
      return createPreviewPolicy({ ...DEFAULT_PREVIEW, ...options.preview });
    case "progressive":
      return createProgressivePolicy();
    case "power":
      return createPowerPolicy({ ...DEFAULT_POWER, ...options.power });
    case "predictive":
      return createPredictivePolicy(options.predictive);
    case "oracle":
      return createOraclePolicy(options.predictive);
    case "vicidial-hard-limit":
      return createVicidialPolicy("ADAPT_HARD_LIMIT", options.vicidial);
    case "vicidial-tapered":
      return createVicidialPolicy("ADAPT_TAPERED", options.vicidial);
    case "vicidial-average":
      return createVicidialPolicy("ADAPT_AVERAGE", options.vicidial);
  }
}
