import { describe, expect, it } from 'vitest';
import { insertMention, mentionAt, mentionCandidates } from './mentions';

describe('mention autocomplete', () => {
  it('finds the @name at the caret', () => {
    expect(mentionAt('@', 1)).toEqual({ start: 0, end: 1, query: '' });
    expect(mentionAt('hi @Bo', 6)).toEqual({ start: 3, end: 6, query: 'bo' });
    expect(mentionAt('hi @bo and', 5)).toEqual({ start: 3, end: 6, query: 'b' });
    expect(mentionAt('(@carol.k', 9)).toEqual({ start: 1, end: 9, query: 'carol.k' });
  });

  it('is not an @name inside a word, after a space, or with no @', () => {
    expect(mentionAt('mail alice@example', 18)).toBeNull();
    expect(mentionAt('@bob ', 5)).toBeNull();
    expect(mentionAt('hello', 5)).toBeNull();
    expect(mentionAt('', 0)).toBeNull();
  });

  it('offers the people whose id starts with it, sorted, without the user', () => {
    const users = ['carol', 'bob', 'alice', 'bobby', 'admin'];
    expect(mentionCandidates(users, '', 'alice')).toEqual(['admin', 'bob', 'bobby', 'carol']);
    expect(mentionCandidates(users, 'BO', 'alice')).toEqual(['bob', 'bobby']);
    expect(mentionCandidates(users, 'z', 'alice')).toEqual([]);
    expect(mentionCandidates(users, '', 'alice', 2)).toEqual(['admin', 'bob']);
  });

  it('puts the picked id in with a space, the caret after it', () => {
    const text = 'hi @bo';
    const q = mentionAt(text, text.length)!;
    expect(insertMention(text, q, 'bob')).toEqual({ text: 'hi @bob ', caret: 8 });
    // in the middle of the text: the whole name is replaced, an existing space kept
    const mid = 'hi @b there';
    const q2 = mentionAt(mid, 5)!;
    expect(insertMention(mid, q2, 'bobby')).toEqual({ text: 'hi @bobby there', caret: 10 });
  });
});
