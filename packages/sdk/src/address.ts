/** Normalised customer addresses: the keys of suppression, reply matching and dedupe. */
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js";

/** E.164 form of a phone number, or undefined when it is not a valid number. */
export function normalizePhone(input: string, defaultCountry?: CountryCode): string | undefined {
  const cleaned = input.trim().replace(/^whatsapp:/i, "");
  const parsed = parsePhoneNumberFromString(cleaned, defaultCountry);
  return parsed?.isValid() ? parsed.number : undefined;
}

/** The extension of a phone number given with one ("+1 415 555 0100 ext. 12" -> "12"). */
export function phoneExtension(input: string, defaultCountry?: CountryCode): string | undefined {
  const parsed = parsePhoneNumberFromString(input.trim().replace(/^whatsapp:/i, ""), defaultCountry);
  return parsed?.ext || undefined;
}

/** Lower-cased, trimmed email address, or undefined when it is not one. */
export function normalizeEmail(input: string): string | undefined {
  const email = input.trim().toLowerCase();
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) ? email : undefined;
}

/** Normalises an address of either kind (phone numbers of any channel share one form). */
export function normalizeAddress(input: string): string | undefined {
  return input.includes("@") ? normalizeEmail(input) : normalizePhone(input);
}
