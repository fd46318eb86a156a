// Message search as the server matches it: a query is its words (runs of
// letters, marks and digits), and a message matches when each of them equals
// or begins a word of its text, ignoring case.

const WORD = /[\p{L}\p{M}\p{Nd}]+/gu;

/** The words a query looks for: lower case, each once, in their order. */
export function searchWords(q: string): string[] {
  const words: string[] = [];
  for (const [w] of q.matchAll(WORD)) {
    const lw = lower(w);
    if (!words.includes(lw)) words.push(lw);
  }
  return words;
}

/** A piece of a message text, and whether it is the matching start of a word. */
export interface Segment {
  text: string;
  match: boolean;
}

/**
 * Lower case character by character, one code point for one (as the server
 * lower-cases): "İ" becomes "i" and a final "Σ" becomes "σ".
 */
function lower(s: string): string {
  let out = '';
  for (const ch of s) out += String.fromCodePoint(ch.toLowerCase().codePointAt(0) ?? 0);
  return out;
}

/** How many UTF-16 units of word begin with the lower-case prefix, or 0 when none do. */
function prefixLength(word: string, prefix: string): number {
  const low = lower(word);
  if (!low.startsWith(prefix)) return 0;
  // A character and its lower case may differ in length: cut the original.
  const chars = Array.from(prefix).length;
  return Array.from(word).slice(0, chars).join('').length;
}

/**
 * Splits text into segments, marking in each word the longest of words
 * (lower case, see searchWords) that begins it. Joined, the segments are text.
 */
export function highlight(text: string, words: readonly string[]): Segment[] {
  const out: Segment[] = [];
  const push = (s: string, match: boolean) => {
    if (!s) return;
    const last = out[out.length - 1];
    if (last && last.match === match) last.text += s;
    else out.push({ text: s, match });
  };
  let at = 0;
  for (const m of text.matchAll(WORD)) {
    const start = m.index ?? 0;
    const word = m[0];
    const n = Math.max(0, ...words.map((w) => (w ? prefixLength(word, w) : 0)));
    push(text.slice(at, start), false);
    push(word.slice(0, n), true);
    push(word.slice(n), false);
    at = start + word.length;
  }
  push(text.slice(at), false);
  return out;
}

/** The most results one search request may ask for. */
export const MAX_SEARCH_LIMIT = 50;

/**
 * The request for the results after those held (newest first): `before` is
 * exclusive and times have milliseconds, so it asks from just after the
 * oldest held message, with room for those held that share its time
 * (they come back first and are dropped as held), so none in that
 * millisecond is skipped. When too many share it, it asks from that time on.
 */
export function nextPage(held: readonly { ts: string }[], size: number): { before?: string; limit: number } {
  const oldest = held[held.length - 1];
  if (!oldest) return { limit: size };
  const t = Date.parse(oldest.ts);
  const same = held.filter((m) => m.ts === oldest.ts).length;
  if (Number.isNaN(t) || same + size > MAX_SEARCH_LIMIT) return { before: oldest.ts, limit: size };
  return { before: new Date(t + 1).toISOString(), limit: same + size };
}

/** "1 result", "12 results". */
export function resultCount(total: number): string {
  return `${total} result${total === 1 ? '' : 's'}`;
}
