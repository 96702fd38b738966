/** Keeps plugin secrets out of logs, errors and API responses. */

/** Values of the named options; names may be dotted paths (`auth.pass`). */
export function secretValues(options: Record<string, unknown>, names: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const name of names) {
    let v: unknown = options;
    for (const key of name.split(".")) v = v && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined;
    if (typeof v === "string" && v.length >= 4) out.push(v);
  }
  return out;
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join("***");
  return out;
}

/** A copy of the options with secret values masked. */
export function maskOptions(options: Record<string, unknown>, names: readonly string[] = []): Record<string, unknown> {
  const copy = structuredClone(options);
  for (const name of names) {
    const keys = name.split(".");
    let holder: unknown = copy;
    for (const key of keys.slice(0, -1)) holder = holder && typeof holder === "object" ? (holder as Record<string, unknown>)[key] : undefined;
    const last = keys.at(-1)!;
    if (holder && typeof holder === "object" && last in holder) (holder as Record<string, unknown>)[last] = "***";
  }
  return copy;
}
