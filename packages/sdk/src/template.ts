/** `{{firstName}}`-style placeholders filled from the customer. */
import type { Customer, MessageContent } from "./plugin.ts";

const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g;

function lookup(customer: Customer, path: string): string {
  const [head, ...rest] = path.split(".");
  let value: unknown =
    head === "attributes" ? customer.attributes : (customer as unknown as Record<string, unknown>)[head ?? ""];
  if (head !== "attributes" && value === undefined && customer.attributes && head) {
    value = customer.attributes[head];
  }
  for (const key of rest) {
    value = value && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
  }
  return value === undefined || value === null ? "" : String(value);
}

/** Fills placeholders; unknown ones become empty. `{{attributes.x}}` or plain `{{x}}` reach attributes. */
export function fillPlaceholders(text: string, customer: Customer): string {
  return text.replace(PLACEHOLDER, (_m, path: string) => lookup(customer, path));
}

export function renderContent(content: MessageContent, customer: Customer): MessageContent {
  const fill = (s: string | undefined) => (s === undefined ? undefined : fillPlaceholders(s, customer));
  const out: MessageContent = {};
  if (content.subject !== undefined) out.subject = fill(content.subject);
  if (content.text !== undefined) out.text = fill(content.text);
  if (content.html !== undefined) out.html = fill(content.html);
  if (content.template) {
    out.template = {
      ...content.template,
      ...(content.template.parameters
        ? { parameters: content.template.parameters.map((p) => fillPlaceholders(p, customer)) }
        : {}),
    };
  }
  return out;
}
