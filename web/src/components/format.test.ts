import { describe, expect, it } from 'vitest';
import { lastSeen, presenceText, preview, receipt, roomLinkName, typingText } from './format';

describe('format', () => {
  it('says how long ago a user was seen', () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    expect(lastSeen('2026-03-01T11:59:30Z', now)).toBe('just now');
    expect(lastSeen('2026-03-01T11:55:00Z', now)).toBe('5 min ago');
    expect(lastSeen('2026-03-01T09:00:00Z', now)).toBe('3 h ago');
    expect(lastSeen('garbage', now)).toBe('a while ago');
    expect(lastSeen('0001-01-01T00:00:00Z', now)).toBe('');
  });
  it('says online, or offline with last seen when known', () => {
    expect(presenceText('online', '2026-03-01T11:55:00Z')).toBe('online');
    expect(presenceText('offline', new Date(Date.now() - 10_000).toISOString())).toBe('offline, last seen just now');
    expect(presenceText('offline', '0001-01-01T00:00:00Z')).toBe('offline');
    expect(presenceText('offline')).toBe('offline');
  });
  it('names every typing user', () => {
    expect(typingText([])).toBe('');
    expect(typingText(['bob'])).toBe('bob is typing…');
    expect(typingText(['bob', 'carol'])).toBe('bob is typing… carol is typing…');
  });
  it('names a room link with its unread and mention counts', () => {
    expect(roomLinkName('general', 0, 0)).toBe('general');
    expect(roomLinkName('general', 3, 0)).toBe('general, 3 unread');
    expect(roomLinkName('general', 3, 1)).toBe('general, 3 unread, 1 mention');
    expect(roomLinkName('bob, carol', 5, 2)).toBe('bob, carol, 5 unread, 2 mentions');
  });
  it('previews a text on one line, cut with an ellipsis', () => {
    expect(preview('  two\n lines  ')).toBe('two lines');
    expect(preview('abcdef', 4)).toBe('abc…');
    expect(preview('😀😀😀😀😀', 4)).toBe('😀😀😀…');
  });
});

describe('read receipts', () => {
  const m = (seq: number, from: string, deleted = false) => ({ seq, from, deleted });
  const log = [m(1, 'alice'), m(2, 'bob'), m(3, 'alice'), m(4, 'alice', true), m(5, 'alice')];
  it('says Seen under the newest own message the other user of a DM read', () => {
    expect(receipt(log, 'alice', ['alice', 'bob'], {})).toBeNull();
    expect(receipt(log, 'alice', ['alice', 'bob'], { bob: 2 })).toEqual({ seq: 1, text: 'Seen' });
    expect(receipt(log, 'alice', ['alice', 'bob'], { bob: 4 })).toEqual({ seq: 3, text: 'Seen' });
    expect(receipt(log, 'alice', ['alice', 'bob'], { bob: 9 })).toEqual({ seq: 5, text: 'Seen' });
    expect(receipt(log, 'bob', ['alice', 'bob'], { alice: 9 })).toEqual({ seq: 2, text: 'Seen' });
  });
  it('says who read it in a group', () => {
    const members = ['alice', 'bob', 'carol', 'dave'];
    expect(receipt(log, 'alice', members, { bob: 5, carol: 3 })).toEqual({ seq: 5, text: 'Seen by bob' });
    expect(receipt(log, 'alice', members, { bob: 5, carol: 5, dave: 1 })).toEqual({ seq: 5, text: 'Seen by bob, carol' });
    expect(receipt(log, 'alice', members, { carol: 3, dave: 3 })).toEqual({ seq: 3, text: 'Seen by carol, dave' });
  });
  it('has none in a public room', () => {
    expect(receipt(log, 'alice', [], { bob: 9 })).toBeNull();
  });
});
