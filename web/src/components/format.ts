/** "just now", "5 min ago", "3 h ago", or a date, for a past RFC 3339 time; "" for a zero time. */
export function lastSeen(ts: string, now = Date.now()): string {
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return 'a while ago';
  if (t < Date.UTC(2000, 0, 1)) return ''; // a zero time: never seen
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

/** Clock time of a message, e.g. 14:05. */
export function clock(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Who is typing, as the status region says it. */
export function typingText(users: string[]): string {
  return users.map((u) => `${u} is typing…`).join(' ');
}

/** "online", or "offline" with how long ago the user was last seen when known. */
export function presenceText(status: string, lastSeenTs?: string): string {
  if (status === 'online') return 'online';
  const seen = lastSeenTs ? lastSeen(lastSeenTs) : '';
  return seen ? `offline, last seen ${seen}` : 'offline';
}

/** The accessible name of a room in the navigation: "general, 3 unread, 1 mention". */
export function roomLinkName(label: string, unread: number, mentions: number): string {
  let name = label;
  if (unread > 0) name += `, ${unread} unread`;
  if (mentions > 0) name += `, ${mentions} mention${mentions === 1 ? '' : 's'}`;
  return name;
}

/** A message text on one line, cut to at most max characters, for quotes and notifications. */
export function preview(text: string, max = 120): string {
  const line = text.replace(/\s+/g, ' ').trim();
  const chars = Array.from(line);
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : line;
}

/** A read receipt: under which own message, and what it says. */
export interface Receipt {
  seq: number;
  text: string;
}

/**
 * The read receipt of a DM or group DM: under the newest own message that
 * another member has read, "Seen" in a DM and "Seen by <ids>" (those who read
 * it) in a group; null when none was read or the room is public.
 */
export function receipt(
  messages: readonly { seq: number; from: string; deleted?: boolean }[],
  me: string,
  members: readonly string[],
  readBy: Readonly<Record<string, number>>,
): Receipt | null {
  const others = members.filter((m) => m !== me);
  if (others.length === 0) return null;
  const furthest = Math.max(0, ...others.map((o) => readBy[o] ?? 0));
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.from !== me || m.deleted || m.seq > furthest) continue;
    if (others.length === 1) return { seq: m.seq, text: 'Seen' };
    const who = others.filter((o) => (readBy[o] ?? 0) >= m.seq);
    return { seq: m.seq, text: `Seen by ${who.join(', ')}` };
  }
  return null;
}
