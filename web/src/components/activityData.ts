// Shapes /api/activity/stats for the charts. Kept apart from the page so that
// Vitest can check it without a browser.
import type { ActivityStats } from '../api';

export const KNOWN_TYPES = ['session.login', 'ws.connect', 'ws.disconnect', 'room.join', 'room.leave', 'message.sent'];

export interface SeriesRow {
  ts: string;
  label: string;
  [type: string]: number | string;
}

/** Buckets as chart rows: one row per bucket, one numeric column per event type. */
export function bucketRows(stats: ActivityStats | undefined): { rows: SeriesRow[]; types: string[] } {
  const buckets = stats?.buckets ?? [];
  const types = new Set<string>();
  for (const b of buckets) for (const t of Object.keys(b.count_by_type ?? {})) types.add(t);
  const ordered = [...KNOWN_TYPES.filter((t) => types.has(t)), ...[...types].filter((t) => !KNOWN_TYPES.includes(t)).sort()];
  const rows = buckets.map((b) => {
    const row: SeriesRow = { ts: b.ts, label: shortTime(b.ts) };
    for (const t of ordered) row[t] = b.count_by_type?.[t] ?? 0;
    return row;
  });
  return { rows, types: ordered };
}

/** Total events per type over all buckets. */
export function totalsByType(stats: ActivityStats | undefined): { type: string; count: number }[] {
  const { rows, types } = bucketRows(stats);
  return types
    .map((t) => ({ type: t, count: rows.reduce((n, r) => n + (Number(r[t]) || 0), 0) }))
    .filter((x) => x.count > 0);
}

/**
 * top_rooms entries as {room, count}. The contract leaves the entry's shape
 * open; accept a room id string, or an object naming the room as room/id/key/name
 * and its count as count/messages/events/doc_count/value.
 */
export function topRooms(stats: ActivityStats | undefined): { room: string; count: number }[] {
  const out: { room: string; count: number }[] = [];
  for (const e of stats?.top_rooms ?? []) {
    if (typeof e === 'string') {
      out.push({ room: e, count: 0 });
      continue;
    }
    if (!e || typeof e !== 'object') continue;
    const o = e as Record<string, unknown>;
    const room = [o.room, o.id, o.key, o.name].find((v) => typeof v === 'string') as string | undefined;
    const count = [o.count, o.messages, o.events, o.doc_count, o.value].find((v) => typeof v === 'number') as number | undefined;
    if (room) out.push({ room, count: count ?? 0 });
  }
  return out;
}

function shortTime(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** A stats window ending now: from, to (RFC 3339) and an interval giving about 30-60 buckets. */
export function statsWindow(range: string, now = Date.now()): { from: string; to: string; interval: string } {
  const spans: Record<string, [number, string]> = {
    '15m': [15 * 60e3, '30s'],
    '1h': [60 * 60e3, '1m'],
    '6h': [6 * 60 * 60e3, '10m'],
    '24h': [24 * 60 * 60e3, '30m'],
  };
  const [span, interval] = spans[range] ?? spans['1h'];
  return { from: new Date(now - span).toISOString(), to: new Date(now).toISOString(), interval };
}
