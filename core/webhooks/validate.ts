/**
 * Validation of webhook subscription input against schemas/webhook-subscription.schema.json,
 * with details as JSON pointers for the API's 400 answer:
 * `{ "error": "ValidationError", "message": "...", "details": [ { "path": "/url", "message": "..." } ] }`.
 */
import { schemaValidator, validateWith, type ValidationDetail } from "../validation/json-schema.ts";

export type { ValidationDetail };

/** Body of `POST /api/v1/webhooks`. */
export interface WebhookSubscriptionInput {
  url: string;
  /** HMAC key, >= 16 characters; generated (and returned once) when omitted. */
  secret?: string;
  /** Event names, `prefix.*`, or `"*"`. */
  events: string[];
  description?: string;
  active?: boolean;
}

export const SUBSCRIPTION_SCHEMA_FILE = "webhook-subscription.schema.json";

const URL_MESSAGE = "must be an absolute http or https URL, e.g. https://hooks.example.com/dialmesh";

const FRIENDLY: readonly { path: RegExp; keyword: RegExp; message: string }[] = [
  { path: /^\/url$/, keyword: /^must match (pattern|format)/, message: URL_MESSAGE },
  {
    path: /^\/events\/\d+$/,
    keyword: /^must match pattern/,
    message: 'must be an event name such as "activity.status", a prefix such as "activity.*", or "*"',
  },
];

/**
 * Validates a subscription body. Returns the problems as `{path, message}` (JSON pointers),
 * empty when valid. Messages never contain the submitted secret.
 */
export function validateWebhookSubscription(input: unknown): ValidationDetail[] {
  const seen = new Set<string>();
  const out: ValidationDetail[] = [];
  for (const d of validateWith(schemaValidator(SUBSCRIPTION_SCHEMA_FILE), input)) {
    const friendly = FRIENDLY.find((f) => f.path.test(d.path) && f.keyword.test(d.message));
    const detail = friendly ? { path: d.path, message: friendly.message } : d;
    const key = `${detail.path}|${detail.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(detail);
    }
  }
  return out;
}

/** The same check as a type guard. */
export function isWebhookSubscriptionInput(input: unknown): input is WebhookSubscriptionInput {
  return validateWebhookSubscription(input).length === 0;
}

/** Bad subscription input; the API layer answers 400 with {@link WebhookValidationError.toJSON}. */
export class WebhookValidationError extends Error {
  readonly details: ValidationDetail[];
  constructor(details: ValidationDetail[], message = summarise(details)) {
    super(message);
    this.name = "ValidationError";
    this.details = details;
  }
  toJSON(): { error: "ValidationError"; message: string; details: ValidationDetail[] } {
    return { error: "ValidationError", message: this.message, details: this.details };
  }
}

function summarise(details: readonly ValidationDetail[]): string {
  const first = details[0];
  if (!first) return "Invalid webhook subscription";
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : "";
  return `Invalid webhook subscription: ${first.path || "the body"} ${first.message}${more}`;
}
