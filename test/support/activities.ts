/** Activities as intake hands them to the store, for tests of the store itself. */
import type { NormalizedActivity } from "../../core/domain/activity-input.ts";

/** An email activity to its own customer; `key` names it (its idempotency key, its customer). */
export function emailActivity(key: string, dueAt: Date): NormalizedActivity {
  return {
    idempotencyKey: key,
    requestHash: `h-${key}`,
    customer: { id: `c-${key}`, email: `c-${key}@example.com` },
    channel: "email",
    content: { subject: "s", text: "t" },
    dueAt,
    chain: [{ channel: "email" }],
  } as NormalizedActivity;
}
