import { describe, expect, it } from 'vitest';
import type { ActivityStats } from '../api';
import { bucketRows, statsWindow, topRooms, totalsByType } from './activityData';

const stats: ActivityStats = {
  buckets: [
    { ts: '2026-03-01T12:00:00Z', count_by_type: { 'message.sent': 3, 'ws.connect': 1 } },
    { ts: '2026-03-01T12:01:00Z', count_by_type: { 'message.sent': 2, 'custom.thing': 4 } },
  ],
  top_rooms: [{ room: 'general', count: 5 }, { id: 'random', messages: 2 }, 'lobby', 42],
  active_users: 2,
};

describe('activity data', () => {
  it('turns buckets into rows with a zero-filled column per type, contract types first', () => {
    const { rows, types } = bucketRows(stats);
    expect(types).toEqual(['ws.connect', 'message.sent', 'custom.thing']);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ 'message.sent': 3, 'ws.connect': 1, 'custom.thing': 0 });
    expect(rows[1]).toMatchObject({ 'message.sent': 2, 'ws.connect': 0, 'custom.thing': 4 });
    expect(bucketRows(undefined)).toEqual({ rows: [], types: [] });
  });
  it('sums totals by type', () => {
    expect(totalsByType(stats)).toEqual([
      { type: 'ws.connect', count: 1 },
      { type: 'message.sent', count: 5 },
      { type: 'custom.thing', count: 4 },
    ]);
  });
  it('accepts the open shapes of top_rooms entries', () => {
    expect(topRooms(stats)).toEqual([
      { room: 'general', count: 5 },
      { room: 'random', count: 2 },
      { room: 'lobby', count: 0 },
    ]);
  });
  it('builds a stats window ending now', () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    expect(statsWindow('15m', now)).toEqual({ from: '2026-03-01T11:45:00.000Z', to: '2026-03-01T12:00:00.000Z', interval: '30s' });
    expect(statsWindow('bogus', now).interval).toBe('1m');
  });
});
