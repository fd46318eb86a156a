import { describe, expect, it } from 'vitest';
import { lastSeen, presenceText, typingText } from './format';

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
});
