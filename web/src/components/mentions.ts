// Mention autocomplete of the composer: the @name being typed at the caret,
// the people it may name, and the text with the chosen one put in.

/** An @name being typed: text[start] is the "@", text[start+1, end) the name so far. */
export interface MentionQuery {
  start: number;
  end: number;
  query: string;
}

const ID_CHAR = /[A-Za-z0-9.-]/;

/**
 * The @name the caret is in or just after, as the server reads mentions: an
 * "@" at the start of the text or after a character that cannot be part of a
 * user id; null when the caret is not in one.
 */
export function mentionAt(text: string, caret: number): MentionQuery | null {
  let at = caret;
  while (at > 0 && ID_CHAR.test(text[at - 1])) at -= 1;
  if (at === 0 || text[at - 1] !== '@') return null;
  const start = at - 1;
  if (start > 0 && ID_CHAR.test(text[start - 1])) return null;
  let end = caret;
  while (end < text.length && ID_CHAR.test(text[end])) end += 1;
  const query = text.slice(at, caret).toLowerCase();
  if (query.length > 32) return null;
  return { start, end, query };
}

/** The user ids that start with query, sorted, without me, at most limit. */
export function mentionCandidates(users: Iterable<string>, query: string, me: string | undefined, limit = 8): string[] {
  const q = query.toLowerCase();
  return [...users]
    .filter((id) => id !== me && id.startsWith(q))
    .sort()
    .slice(0, limit);
}

/** The text with the @name replaced by @id and a space, and where the caret goes. */
export function insertMention(text: string, q: MentionQuery, id: string): { text: string; caret: number } {
  const after = text.slice(q.end);
  const glue = after.startsWith(' ') ? '' : ' ';
  const head = `${text.slice(0, q.start)}@${id}${glue}`;
  return { text: head + after, caret: head.length + (glue ? 0 : 1) };
}
