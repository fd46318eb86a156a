// The small formatting language of message texts, parsed into a tree that
// RichText renders as React elements (never as HTML):
//
//   **bold**   _italic_   `code`   ```fenced code blocks```   bare http(s):// links
//
// plus the @mentions the server found. Everything else stays text: HTML,
// markdown links, and links of any other scheme (javascript:, data:, …).

export type Inline =
  | { t: 'text'; text: string }
  | { t: 'bold'; children: Inline[] }
  | { t: 'italic'; children: Inline[] }
  | { t: 'code'; text: string }
  | { t: 'link'; href: string; text: string }
  | { t: 'mention'; user: string; text: string };

export type Block = { t: 'code-block'; text: string } | { t: 'text'; children: Inline[] };

// An opening fence, an optional language name on its line (dropped), the code, a closing fence.
const FENCE = /```(?:[A-Za-z0-9_+#.-]{0,20}\n)?([\s\S]*?)```/g;

/** Splits a message text into code blocks and runs of formatted text. */
export function parseMessage(text: string, mentions: readonly string[] = []): Block[] {
  const blocks: Block[] = [];
  let at = 0;
  const pushText = (s: string) => {
    if (s !== '') blocks.push({ t: 'text', children: parseInline(s, mentions) });
  };
  for (const m of text.matchAll(FENCE)) {
    const start = m.index ?? 0;
    // A code block is a block of its own: the line breaks around it are its edges.
    pushText(text.slice(at, start).replace(/\n$/, ''));
    blocks.push({ t: 'code-block', text: m[1].replace(/\n$/, '') });
    at = start + m[0].length;
    if (text[at] === '\n') at += 1;
  }
  pushText(text.slice(at));
  return blocks;
}

interface Rule {
  re: RegExp;
  make: (m: RegExpExecArray, mentions: readonly string[]) => Inline | null;
}

const ID_CHARS = 'A-Za-z0-9.-';

// Tried at every position; the earliest match wins, ties go to the rule listed first.
const RULES: Rule[] = [
  { re: /`([^`\n]+)`/g, make: (m) => ({ t: 'code', text: m[1] }) },
  { re: /\*\*(?!\s)([^\n]+?)(?<!\s)\*\*/g, make: (m, mentions) => ({ t: 'bold', children: parseInline(m[1], mentions) }) },
  {
    re: /(?<![A-Za-z0-9_])_(?!\s)([^_\n]*[^\s_])_(?![A-Za-z0-9_])/g,
    make: (m, mentions) => ({ t: 'italic', children: parseInline(m[1], mentions) }),
  },
  { re: /(?<![A-Za-z0-9])https?:\/\/[^\s<>"'`]+/gi, make: (m) => link(m[0]) },
  { re: new RegExp(`(?<![${ID_CHARS}])@([a-z0-9][${ID_CHARS}]{0,31})`, 'gi'), make: (m, mentions) => mention(m[0], mentions) },
];

/** Formats one run of text (no code blocks in it). */
export function parseInline(text: string, mentions: readonly string[] = []): Inline[] {
  const out: Inline[] = [];
  let at = 0;
  let plain = '';
  while (at < text.length) {
    let best: { m: RegExpExecArray; node: Inline } | null = null;
    for (const rule of RULES) {
      const found = firstMatch(rule, text, at, mentions);
      if (found && (!best || found.m.index < best.m.index)) best = found;
    }
    if (!best) break;
    plain += text.slice(at, best.m.index);
    if (plain) out.push({ t: 'text', text: plain });
    plain = '';
    out.push(best.node);
    at = best.m.index + best.m[0].length;
  }
  plain += text.slice(at);
  if (plain) out.push({ t: 'text', text: plain });
  return out;
}

/** The first match of rule at or after from that makes a node (a match may be refused, e.g. an unknown @name). */
function firstMatch(rule: Rule, text: string, from: number, mentions: readonly string[]): { m: RegExpExecArray; node: Inline } | null {
  rule.re.lastIndex = from;
  for (;;) {
    const m = rule.re.exec(text);
    if (!m) return null;
    const node = rule.make(m, mentions);
    if (node) {
      // A link or a mention may give back trailing punctuation: the match ends where it does.
      if ((node.t === 'link' || node.t === 'mention') && node.text.length < m[0].length) m[0] = node.text;
      return { m, node };
    }
    rule.re.lastIndex = m.index + 1;
  }
}

/** A bare link without the punctuation that ends the sentence around it; null unless http(s). */
function link(raw: string): Inline | null {
  let text = raw;
  for (;;) {
    const last = text[text.length - 1];
    if ('.,;:!?*_'.includes(last)) text = text.slice(0, -1);
    else if (last === ')' && count(text, '(') < count(text, ')')) text = text.slice(0, -1);
    else if ((last === ']' || last === '}') && !text.includes(last === ']' ? '[' : '{')) text = text.slice(0, -1);
    else break;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !/^https?:\/\/[^/?#\s]/i.test(text)) return null;
  return { t: 'link', href: url.href, text };
}

function count(s: string, ch: string): number {
  let n = 0;
  for (const c of s) if (c === ch) n += 1;
  return n;
}

/** An @id the server recognised as a mention (ids are lowercase; a sentence's full stop is not part of it). */
function mention(raw: string, mentions: readonly string[]): Inline | null {
  let id = raw.slice(1).toLowerCase();
  let text = raw;
  while (id && !mentions.includes(id) && /[.-]$/.test(id)) {
    id = id.slice(0, -1);
    text = text.slice(0, -1);
  }
  return id && mentions.includes(id) ? { t: 'mention', user: id, text } : null;
}
