/**
 * Secret options: a manifest's `secretOptions` names option values that must never be logged,
 * returned by the API or put in an error message. Names are dotted paths into the options
 * object: `authToken` is a top-level option, `auth.pass` is `options.auth.pass`. When a step of
 * the path meets an array, the rest of the path applies to each element
 * (`accounts.token` covers `options.accounts[*].token`).
 */

export const REDACTED = "********";

function walk(
  value: unknown,
  steps: readonly string[],
  visit: (holder: Record<string, unknown>, key: string) => void,
): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, steps, visit);
    return;
  }
  if (value === null || typeof value !== "object") return;
  const [head, ...rest] = steps;
  if (head === undefined) return;
  const holder = value as Record<string, unknown>;
  if (!(head in holder)) return;
  if (rest.length === 0) visit(holder, head);
  else walk(holder[head], rest, visit);
}

function collectStrings(value: unknown, out: string[]): void {
  if (typeof value === "string") {
    if (value.length > 0) out.push(value);
  } else if (typeof value === "number" || typeof value === "bigint") {
    out.push(String(value));
  } else if (Array.isArray(value)) {
    for (const item of value) collectStrings(item, out);
  } else if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) collectStrings(item, out);
  }
}

/** The secret values present in `options` (non-empty strings; nested objects contribute every leaf). */
export function secretValues(options: unknown, secretOptions: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (const name of secretOptions ?? []) {
    walk(options, name.split("."), (holder, key) => collectStrings(holder[key], out));
  }
  return [...new Set(out)];
}

/** Secret option names that have no value in `options` (useful to check a test covers them all). */
export function missingSecrets(options: unknown, secretOptions: readonly string[] | undefined): string[] {
  return (secretOptions ?? []).filter((name) => secretValues(options, [name]).length === 0);
}

/** A deep copy of `options` with every secret value replaced by {@link REDACTED}. */
export function redactOptions<T>(options: T, secretOptions: readonly string[] | undefined): T {
  const copy = structuredClone(options);
  for (const name of secretOptions ?? []) {
    walk(copy, name.split("."), (holder, key) => {
      if (holder[key] !== undefined && holder[key] !== null) holder[key] = REDACTED;
    });
  }
  return copy;
}

function mapStrings(value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === "string") return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, fn)]));
  return value;
}

/** A deep copy of `options` with `fn` applied to every secret string (to seal or open them at rest). */
export function mapSecretOptions<T>(
  options: T,
  secretOptions: readonly string[] | undefined,
  fn: (s: string) => string,
): T {
  const copy = structuredClone(options);
  for (const name of secretOptions ?? []) {
    walk(copy, name.split("."), (holder, key) => {
      holder[key] = mapStrings(holder[key], fn);
    });
  }
  return copy;
}

/** `text` with every occurrence of the given secret values replaced by {@link REDACTED}. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so a secret that contains another is replaced whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) out = out.split(secret).join(REDACTED);
  }
  return out;
}
