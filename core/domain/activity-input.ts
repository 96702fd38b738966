/**
 * Intake of activities: schema validation plus the checks a schema cannot express (known
 * channel and fallback policy, the address the channel needs, valid zones, time order).
 * Pure: the caller supplies the channels loaded plugins declare and the configured policies.
 */
import { createHash } from "node:crypto";
import type { FallbackPolicy, FallbackStep } from "../config/types.ts";
import type { Customer, MessageContent } from "@dialmesh/sdk";
import { schemaValidator, validateWith, type ValidationDetail } from "../validation/json-schema.ts";
import { normalizeEmail, normalizePhone, phoneExtension } from "@dialmesh/sdk";
import { attributeProblems } from "./attributes.ts";
import { isValidZone, windowZone, nextWindowOpening, type CallingWindow } from "./calling-window.ts";
import { resolveChain } from "./fallback.ts";
import type { Purpose } from "../compliance/consent.ts";

export interface ActivityInput {
  customer: Customer;
  channel: string;
  /** Plugin instance for the first step, instead of the channel's routing. */
  pluginId?: string;
  content?: MessageContent;
  dueAt?: string;
  window?: CallingWindow;
  fallbackPolicy?: string;
  campaignId?: string;
  /** DNC lists to check before each attempt (the caller checks that they exist). */
  dncLists?: string[];
  purpose?: Purpose;
  /** Each attempt needs the customer's granted consent for `purpose` on its channel. */
  requiresConsent?: boolean;
  idempotencyKey?: string;
  expiresAt?: string;
}

export interface NormalizedActivity {
  customer: Customer;
  channel: string;
  content: MessageContent;
  dueAt: Date;
  window?: CallingWindow;
  fallbackPolicy?: string;
  chain: FallbackStep[];
  campaignId?: string;
  dncLists?: string[];
  purpose?: Purpose;
  requiresConsent?: true;
  idempotencyKey?: string;
  expiresAt?: Date;
  /** Hash of the request, to tell a replay from a different request under the same key. */
  requestHash: string;
}

export interface IntakeContext {
  /** Channels that loaded plugins carry. */
  channels: ReadonlySet<string>;
  /** Enabled plugin instances and the channels each carries (for `pluginId`). */
  instances: ReadonlyMap<string, readonly string[]>;
  fallbacks: Record<string, FallbackPolicy>;
  now: Date;
  /**
   * Stored customers (by id) of the activities that name a customer without an address: their
   * address, name and zone fill what the request leaves out; the request's own fields win.
   */
  storedCustomers?: ReadonlyMap<string, StoredContact>;
}

/** What intake takes from a stored customer: its first phone, its email, name and zone. */
export interface StoredContact {
  email?: string;
  phone?: string;
  firstName?: string;
  lastName?: string;
  timezone?: string;
}

/** The customer ids of activities that lack an address a stored customer could give. */
export function customerIdsToLookUp(items: readonly unknown[]): string[] {
  const ids = new Set<string>();
  for (const item of items) {
    const c = (item as { customer?: { id?: unknown; email?: unknown; phone?: unknown } } | null)?.customer;
    if (c && typeof c.id === "string" && (c.email === undefined || c.phone === undefined)) ids.add(c.id);
  }
  return [...ids];
}

/** Channels whose message needs text or a template (voice carries none). */
const TEXT_CHANNELS = new Set(["sms", "whatsapp"]);

/** Which customer field a channel sends to. */
export function addressField(channel: string): "email" | "phone" {
  return channel === "email" ? "email" : "phone";
}

function hashOf(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 32);
}

/** Validates and normalises one activity; `at` is its JSON pointer prefix ("" or "/activities/3"). */
export function normalizeActivity(
  input: unknown,
  ctx: IntakeContext,
  at = "",
): { ok: true; value: NormalizedActivity } | { ok: false; details: ValidationDetail[] } {
  const schemaDetails = validateWith(schemaValidator("activity.schema.json"), input);
  if (schemaDetails.length > 0) {
    return { ok: false, details: schemaDetails.map((d) => ({ path: at + d.path, message: d.message })) };
  }
  const a = input as ActivityInput;
  const details: ValidationDetail[] = [];
  const fail = (path: string, message: string) => details.push({ path: at + path, message });

  const knownChannel = ctx.channels.has(a.channel);
  if (!knownChannel) {
    const known = [...ctx.channels].sort().join(", ") || "none";
    fail("/channel", `"${a.channel}" is not carried by any loaded plugin (loaded channels: ${known})`);
  }

  // The request hash (idempotency) is of the request as sent, not of what the store added.
  const stored = ctx.storedCustomers?.get(a.customer.id);
  const given: ActivityInput["customer"] = { ...stored, ...a.customer };
  const customer: Customer = { ...given };
  if (given.email !== undefined) {
    const email = normalizeEmail(given.email);
    if (email) customer.email = email;
    else fail("/customer/email", "must be an email address");
  }
  if (given.phone !== undefined) {
    const phone = normalizePhone(given.phone);
    const ext = phoneExtension(given.phone);
    if (phone && ext)
      fail(
        "/customer/phone",
        `has an extension (${ext}); extensions are not dialled or texted: give the number without it`,
      );
    else if (phone) customer.phone = phone;
    else fail("/customer/phone", "must be a phone number in international form, e.g. +14155550123");
  }
  if (a.customer.attributes !== undefined) {
    for (const d of attributeProblems(a.customer.attributes)) fail(`/customer/attributes${d.path}`, d.message);
  }
  if (given.timezone !== undefined && !isValidZone(given.timezone)) {
    fail(
      "/customer/timezone",
      `"${given.timezone}" is not an IANA time zone name (e.g. Europe/Paris; fixed offsets such as +05:30 ignore daylight saving time)`,
    );
  }

  let policy: FallbackPolicy | undefined;
  if (a.fallbackPolicy !== undefined) {
    policy = ctx.fallbacks[a.fallbackPolicy];
    if (!policy) {
      const names = Object.keys(ctx.fallbacks).join(", ") || "none";
      fail("/fallbackPolicy", `"${a.fallbackPolicy}" is not a configured fallback policy (configured: ${names})`);
    }
  } else {
    policy = ctx.fallbacks.default;
  }
  const chain = resolveChain(a.channel, policy);
  if (a.pluginId !== undefined) {
    const carries = ctx.instances.get(a.pluginId);
    if (!carries) {
      const known = [...ctx.instances.keys()].sort().join(", ") || "none";
      fail("/pluginId", `"${a.pluginId}" is not an enabled plugin instance (enabled: ${known})`);
    } else if (!carries.includes(a.channel)) {
      fail("/pluginId", `"${a.pluginId}" does not carry ${a.channel} (it carries: ${carries.join(", ") || "nothing"})`);
    }
    chain[0] = { ...chain[0]!, pluginId: a.pluginId };
  }
  // Only the first channel's address is mandatory; a later step without one fails at its turn.
  const first = addressField(a.channel);
  if (knownChannel && !customer[first] && !details.some((d) => d.path === `${at}/customer/${first}`)) {
    fail(
      `/customer/${first}`,
      `is required for channel "${a.channel}"${
        ctx.storedCustomers
          ? stored
            ? ` (the stored customer "${a.customer.id}" has none)`
            : ` (no stored customer "${a.customer.id}" to take it from)`
          : ""
      }`,
    );
  }

  const content = a.content ?? {};
  if (a.channel === "email" && !content.text && !content.html)
    fail("/content", 'needs text or html for channel "email"');
  if (TEXT_CHANNELS.has(a.channel) && !content.text && !content.template) {
    fail("/content", `needs text or a template for channel "${a.channel}"`);
  }

  if (a.window?.timezone !== undefined && !isValidZone(a.window.timezone)) {
    fail("/window/timezone", `"${a.window.timezone}" is not an IANA time zone (e.g. America/New_York)`);
  }
  if (a.window && a.window.start >= a.window.end) fail("/window", "start must be before end");

  const dueAt = a.dueAt ? new Date(a.dueAt) : ctx.now;
  const expiresAt = a.expiresAt ? new Date(a.expiresAt) : undefined;
  if (expiresAt && expiresAt <= dueAt) fail("/expiresAt", "must be after dueAt");
  if (a.window && details.length === 0) {
    const zone = windowZone(a.window, customer.timezone);
    if (!nextWindowOpening(a.window, dueAt, zone)) fail("/window", "never opens");
  }

  if (details.length > 0) return { ok: false, details };
  const value: NormalizedActivity = {
    customer,
    channel: a.channel,
    content,
    dueAt,
    chain,
    requestHash: hashOf(a),
    ...(a.window ? { window: a.window } : {}),
    ...(a.fallbackPolicy ? { fallbackPolicy: a.fallbackPolicy } : {}),
    ...(a.campaignId ? { campaignId: a.campaignId } : {}),
    ...(a.dncLists?.length ? { dncLists: a.dncLists } : {}),
    ...(a.purpose ? { purpose: a.purpose } : {}),
    ...(a.requiresConsent ? { requiresConsent: true as const } : {}),
    ...(a.idempotencyKey ? { idempotencyKey: a.idempotencyKey } : {}),
    ...(expiresAt ? { expiresAt } : {}),
  };
  return { ok: true, value };
}

/** Unwraps `{activities: [...]}` or a single activity into a list with pointer prefixes. */
export function splitBatch(body: unknown): {
  items: unknown[];
  prefix: (i: number) => string;
  batch: boolean;
  problem?: string;
} {
  if (Array.isArray(body)) {
    return {
      items: [],
      prefix: () => "",
      batch: true,
      problem: 'send one activity object, or {"activities": [...]} for several',
    };
  }
  if (body && typeof body === "object" && !Array.isArray(body) && "activities" in body) {
    const list = (body as { activities: unknown }).activities;
    return { items: Array.isArray(list) ? list : [], prefix: (i) => `/activities/${i}`, batch: true };
  }
  return { items: [body], prefix: () => "", batch: false };
}
