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
