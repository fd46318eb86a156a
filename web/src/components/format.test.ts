import { describe, expect, it } from 'vitest';
import { lastSeen, typingText } from './format';

describe('format', () => {
  it('says how long ago a user was seen', () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    expect(lastSeen('2026-03-01T11:59:30Z', now)).toBe('just now');
    expect(lastSeen('2026-03-01T11:55:00Z', now)).toBe('5 min ago');
    expect(lastSeen('2026-03-01T09:00:00Z', now)).toBe('3 h ago');
    expect(lastSeen('garbage', now)).toBe('a while ago');
  });
  it('names every typing user', () => {
    expect(typingText([])).toBe('');
    expect(typingText(['bob'])).toBe('bob is typing…');
    expect(typingText(['bob', 'carol'])).toBe('bob is typing… carol is typing…');
  });
});
