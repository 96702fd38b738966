/**
 * Opt-out / opt-in keyword classification for inbound customer messages (SMS, WhatsApp).
 * Pure: no I/O. Follows Twilio's rules for its standard keywords: the keyword must be the
 * whole message (surrounding whitespace ignored), compared case-insensitively. Surrounding
 * punctuation is ignored too ("Stop." and "¡BAJA!" count), and runs of inner whitespace are
 * collapsed so multi-word keywords ("STOP ALL") can be configured.
 */

/** Keywords of one language. */
export interface LanguageKeywords {
  optOut?: string[];
  optIn?: string[];
}

/**
 * Extra keywords per language tag, e.g. `{ "es": { "optOut": ["BAJA", "ALTO"], "optIn": ["ALTA"] } }`.
 * Used by the hub config and by the `optOutKeywords` option of messaging plugins.
 */
export type OptOutKeywords = Record<string, LanguageKeywords>;

export type KeywordClass = "opt-out" | "opt-in";

/**
 * Always honoured. Twilio's standard English list (it also stops on REVOKE and OPTOUT, so
 * they are here too: a number Twilio has stopped must be suppressed in the hub as well).
 */
export const DEFAULT_OPT_OUT_KEYWORDS: readonly string[] = [
  "STOP",
  "STOPALL",
  "UNSUBSCRIBE",
  "CANCEL",
  "END",
  "QUIT",
  "REVOKE",
  "OPTOUT",
];
export const DEFAULT_OPT_IN_KEYWORDS: readonly string[] = ["START", "UNSTOP"];

/** JSON Schema of {@link OptOutKeywords}, for manifests and the hub config schema. */
export const OPT_OUT_KEYWORDS_SCHEMA = {
  type: "object",
  description: 'Extra opt-out/opt-in keywords per language, e.g. { "es": { "optOut": ["BAJA"], "optIn": ["ALTA"] } }',
  propertyNames: { pattern: "^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$" },
  additionalProperties: {
    type: "object",
    additionalProperties: false,
    properties: {
      optOut: { type: "array", items: { type: "string", minLength: 1 } },
      optIn: { type: "array", items: { type: "string", minLength: 1 } },
    },
  },
} as const;

const EDGE_NOISE = /^[\s\p{P}]+|[\s\p{P}]+$/gu;

/** The comparable form of a message or keyword. */
export function normalizeKeyword(text: string): string {
  return text.normalize("NFKC").replace(EDGE_NOISE, "").replace(/\s+/gu, " ").toUpperCase();
}

/** Pre-normalised keyword sets; build once per plugin instance with {@link compileKeywords}. */
export interface CompiledKeywords {
  optOut: ReadonlySet<string>;
  optIn: ReadonlySet<string>;
}

export function compileKeywords(extra?: OptOutKeywords): CompiledKeywords {
  const optOut = new Set(DEFAULT_OPT_OUT_KEYWORDS.map(normalizeKeyword));
  const optIn = new Set(DEFAULT_OPT_IN_KEYWORDS.map(normalizeKeyword));
  for (const lang of Object.values(extra ?? {})) {
    for (const k of lang.optOut ?? []) if (normalizeKeyword(k)) optOut.add(normalizeKeyword(k));
    for (const k of lang.optIn ?? []) if (normalizeKeyword(k)) optIn.add(normalizeKeyword(k));
  }
  return { optOut, optIn };
}

/**
 * Whether the whole message is an opt-out or opt-in keyword. A keyword configured as both
 * counts as opt-out (the safe side). Anything else, including "please stop", is undefined.
 */
export function classifyKeyword(text: string, extra?: OptOutKeywords | CompiledKeywords): KeywordClass | undefined {
  const compiled = isCompiled(extra) ? extra : compileKeywords(extra);
  const key = normalizeKeyword(text);
  if (!key) return undefined;
  if (compiled.optOut.has(key)) return "opt-out";
  if (compiled.optIn.has(key)) return "opt-in";
  return undefined;
}

function isCompiled(value: OptOutKeywords | CompiledKeywords | undefined): value is CompiledKeywords {
  return value !== undefined && value.optOut instanceof Set;
}
