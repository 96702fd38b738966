/**
 * Shared by the Cisco plugins: the little XML the Unified Config API (UCCE) and the Admin API
 * (UCCX) speak, read into a plain element tree. The documents are small, flat and
 * namespace-free, so a strict tokenizer is enough (no dependency).
 */

export interface XmlElement {
  name: string;
  /** Attribute values, entities decoded. */
  attributes: Record<string, string>;
  children: XmlElement[];
  /** Text and CDATA directly inside the element, entities decoded. */
  text: string;
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, entity: string) => {
    if (entity.startsWith("#x") || entity.startsWith("#X")) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith("#")) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    return ENTITIES[entity.toLowerCase()] ?? whole;
  });
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Parses a document; throws on malformed input (unbalanced or unterminated tags). */
export function parseXml(source: string): XmlElement {
  const root: XmlElement = { name: "#document", attributes: {}, children: [], text: "" };
  const stack: XmlElement[] = [root];
  let i = 0;
  const top = (): XmlElement => stack[stack.length - 1] as XmlElement;
  while (i < source.length) {
    const lt = source.indexOf("<", i);
    if (lt < 0) {
      top().text += decodeEntities(source.slice(i));
      break;
    }
    if (lt > i) top().text += decodeEntities(source.slice(i, lt));
    if (source.startsWith("<![CDATA[", lt)) {
      const end = source.indexOf("]]>", lt);
      if (end < 0) throw new Error("unterminated CDATA section");
      top().text += source.slice(lt + 9, end);
      i = end + 3;
    } else if (source.startsWith("<!--", lt)) {
      const end = source.indexOf("-->", lt);
      if (end < 0) throw new Error("unterminated comment");
      i = end + 3;
    } else if (source.startsWith("<?", lt) || source.startsWith("<!", lt)) {
      const end = source.indexOf(">", lt);
      if (end < 0) throw new Error("unterminated declaration");
      i = end + 1;
    } else {
      const end = source.indexOf(">", lt);
      if (end < 0) throw new Error("unterminated tag");
      const tag = source.slice(lt + 1, end);
      i = end + 1;
      if (tag.startsWith("/")) {
        const name = tag.slice(1).trim();
        const open = stack.pop();
        if (!open || open === root || open.name !== name) throw new Error(`unexpected </${name}>`);
      } else {
        const selfClosing = tag.endsWith("/");
        const body = (selfClosing ? tag.slice(0, -1) : tag).trim();
        const name = body.split(/\s+/)[0] ?? "";
        if (!name) throw new Error("empty tag name");
        const element: XmlElement = {
          name,
          attributes: parseAttributes(body.slice(name.length)),
          children: [],
          text: "",
        };
        top().children.push(element);
        if (!selfClosing) stack.push(element);
      }
    }
  }
  if (stack.length !== 1) throw new Error(`unclosed <${top().name}>`);
  return root;
}

function parseAttributes(source: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const m of source.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    attributes[m[1] as string] = decodeEntities(m[2] ?? m[3] ?? "");
  }
  return attributes;
}

/** The first child named `name`, if any. */
export function child(element: XmlElement | undefined, name: string): XmlElement | undefined {
  return element?.children.find((c) => c.name === name);
}

/** Trimmed text of the first child named `name`, if any. */
export function childText(element: XmlElement | undefined, name: string): string | undefined {
  const found = child(element, name);
  return found === undefined ? undefined : found.text.trim();
}

/** Every element named `name` at any depth, in document order. */
export function descendants(element: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (node: XmlElement): void => {
    for (const c of node.children) {
      if (c.name === name) out.push(c);
      else walk(c);
    }
  };
  walk(element);
  return out;
}

/** The integer in `text`, else `fallback`. */
export function toInt(text: string | undefined, fallback: number): number {
  const n = Number.parseInt(text ?? "", 10);
  return Number.isFinite(n) ? n : fallback;
}
