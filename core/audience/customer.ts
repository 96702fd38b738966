/**
 * A customer as `PUT /api/v1/customers/:id` takes it, checked and normalised: phones to E.164
 * with their zones, the email lower-cased, the zone a real IANA zone, attributes validated
 * against their declarations (phone and email attributes normalised first). Every problem is a
 * JSON pointer, what was wrong and what was expected. Pure.
 */
import type { CountryCode } from "libphonenumber-js";
import { IANAZone } from "luxon";
import type { ValidationDetail } from "../validation/json-schema.ts";
import type { PhoneZoneTable } from "../regulation/types.ts";
import { attributeValidator, coerceCell, type AttributeDeclaration } from "./attributes.ts";
import { normalizeCustomerPhone, normalizeEmail, type CustomerPhone } from "./contact-points.ts";

export interface CustomerFields {
  firstName?: string;
  lastName?: string;
  email?: string;
  phones: CustomerPhone[];
  timezone?: string;
  attributes: Record<string, unknown>;
}

/** Customer ids appear in URLs and as `_id`: printable, no slash. */
export const CUSTOMER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/;
export const CUSTOMER_ID_EXPECTED = "1 to 128 letters, digits and . _ : @ + -, starting with a letter or digit";

const KNOWN = new Set(["id", "firstName", "lastName", "email", "phones", "timezone", "attributes", "defaultRegion"]);

export interface NormalizeOptions {
  declarations: readonly AttributeDeclaration[];
  defaultRegion: CountryCode | undefined;
  zones: PhoneZoneTable;
}

/** Normalises phone/email/date attribute values in place; returns problems for those that do not parse. */
export function normalizeContactAttributes(
  attributes: Record<string, unknown>,
  declarations: readonly AttributeDeclaration[],
  defaultRegion: CountryCode | undefined,
  zones: PhoneZoneTable,
  base = "/attributes",
): ValidationDetail[] {
  const details: ValidationDetail[] = [];
  for (const d of declarations) {
    const v = attributes[d.name];
    if (typeof v !== "string") continue;
    if (d.type === "phone") {
      const p = normalizeCustomerPhone(v, "", defaultRegion, zones);
      if (p) attributes[d.name] = p.number;
      else details.push({ path: `${base}/${d.name}`, message: `${JSON.stringify(v)} is not a valid phone number` });
    } else if (d.type === "date") {
      // Stored as the import stores it (UTC, toISOString), so that dates compare as strings in filters.
      const c = coerceCell(d, v);
      if ("value" in c) attributes[d.name] = c.value;
    } else if (d.type === "email") {
      const e = normalizeEmail(v);
      if (e) attributes[d.name] = e;
      else details.push({ path: `${base}/${d.name}`, message: `${JSON.stringify(v)} is not an email address` });
    }
  }
  return details;
}

export function normalizeCustomer(
  id: string,
  body: unknown,
  opts: NormalizeOptions,
): { customer: CustomerFields } | { details: ValidationDetail[] } {
  const details: ValidationDetail[] = [];
  if (!CUSTOMER_ID.test(id)) details.push({ path: "/id", message: `must be ${CUSTOMER_ID_EXPECTED}` });
  if (body === null || typeof body !== "object" || Array.isArray(body))
    return { details: [...details, { path: "", message: "must be a JSON object (the customer)" }] };
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b))
    if (!KNOWN.has(key))
      details.push({
        path: `/${key}`,
        message: "is not a known property (expected firstName, lastName, email, phones, timezone, attributes)",
      });
  if (b.id !== undefined && b.id !== id)
    details.push({ path: "/id", message: `must be "${id}" (the id in the path) or left out` });
  const text = (key: "firstName" | "lastName"): string | undefined => {
    const v = b[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string" || v.length > 200) {
      details.push({ path: `/${key}`, message: "must be a string of at most 200 characters" });
      return undefined;
    }
    return v.trim() || undefined;
  };
  const firstName = text("firstName");
  const lastName = text("lastName");

  let email: string | undefined;
  if (b.email !== undefined && b.email !== null) {
    email = typeof b.email === "string" ? normalizeEmail(b.email) : undefined;
    if (!email) details.push({ path: "/email", message: `${JSON.stringify(b.email)} is not an email address` });
  }

  let region = opts.defaultRegion;
  if (b.defaultRegion !== undefined) {
    if (typeof b.defaultRegion === "string" && /^[A-Z]{2}$/.test(b.defaultRegion))
      region = b.defaultRegion as CountryCode;
    else details.push({ path: "/defaultRegion", message: "must be an ISO 3166-1 alpha-2 region, e.g. US" });
  }

  const phones: CustomerPhone[] = [];
  if (b.phones !== undefined) {
    if (!Array.isArray(b.phones) || b.phones.length > 20)
      details.push({
        path: "/phones",
        message: 'must be a list of at most 20 phones ("+1..." or {"number", "label"})',
      });
    else
      b.phones.forEach((p: unknown, i) => {
        const entry =
          typeof p === "string"
            ? { number: p, label: `phone ${i + 1}` }
            : p && typeof p === "object" && typeof (p as { number?: unknown }).number === "string"
              ? {
                  number: (p as { number: string }).number,
                  label:
                    typeof (p as { label?: unknown }).label === "string"
                      ? (p as { label: string }).label
                      : `phone ${i + 1}`,
                }
              : undefined;
        if (!entry) {
          details.push({ path: `/phones/${i}`, message: 'must be a phone number or {"number", "label"}' });
          return;
        }
        const phone = normalizeCustomerPhone(entry.number, entry.label, region, opts.zones);
        if (!phone)
          details.push({
            path: `/phones/${i}`,
            message: `${JSON.stringify(entry.number)} is not a valid phone number (expected E.164 like +14155550100${region ? `, or a national number of ${region}` : ""})`,
          });
        else if (!phones.some((q) => q.number === phone.number)) phones.push(phone);
      });
  }

  let timezone: string | undefined;
  if (b.timezone !== undefined && b.timezone !== null) {
    if (typeof b.timezone === "string" && IANAZone.isValidZone(b.timezone)) timezone = b.timezone;
    else
      details.push({
        path: "/timezone",
        message: `${JSON.stringify(b.timezone)} is not an IANA time zone, e.g. America/New_York`,
      });
  }

  const attributes: Record<string, unknown> =
    b.attributes && typeof b.attributes === "object" && !Array.isArray(b.attributes)
      ? { ...(b.attributes as Record<string, unknown>) }
      : {};
  if (b.attributes !== undefined && (typeof b.attributes !== "object" || Array.isArray(b.attributes) || !b.attributes))
    details.push({ path: "/attributes", message: "must be an object of declared attributes" });
  else {
    details.push(...normalizeContactAttributes(attributes, opts.declarations, region, opts.zones));
    details.push(
      ...attributeValidator(opts.declarations)(attributes).filter((d) => !details.some((x) => x.path === d.path)),
    );
  }

  if (details.length) return { details };
  return {
    customer: {
      ...(firstName ? { firstName } : {}),
      ...(lastName ? { lastName } : {}),
      ...(email ? { email } : {}),
      phones,
      ...(timezone ? { timezone } : {}),
      attributes,
    },
  };
}
