import { describe, expect, it } from 'vitest';
import { highlight, MAX_SEARCH_LIMIT, nextPage, resultCount, searchWords, type Segment } from './search';

const marked = (segs: Segment[]) => segs.map((s) => (s.match ? `[${s.text}]` : s.text)).join('');

describe('searchWords', () => {
  it('splits on everything but letters, marks and digits, lower case, each once', () => {
    expect(searchWords('Deplo')).toEqual(['deplo']);
    expect(searchWords('  the  NOON,the "at"  ')).toEqual(['the', 'noon', 'at']);
    expect(searchWords('v2.3 über-Café')).toEqual(['v2', '3', 'über', 'café']);
    expect(searchWords('AND OR* (x)')).toEqual(['and', 'or', 'x']);
    expect(searchWords('İSTANBUL ΟΔΟΣ')).toEqual(['istanbul', 'οδοσ']);
  });
  it('finds no words in punctuation only', () => {
    expect(searchWords('!?* -')).toEqual([]);
    expect(searchWords('')).toEqual([]);
  });
});

describe('highlight', () => {
  it('marks the start of each word a query word begins, ignoring case', () => {
    expect(marked(highlight('The deployment finished at noon', ['deplo']))).toBe('The [deplo]yment finished at noon');
    expect(marked(highlight('DEPLOY deploy Deployed', ['deplo']))).toBe('[DEPLO]Y [deplo]y [Deplo]yed');
    expect(marked(highlight('The deployment finished at noon', ['fin', 'noon']))).toBe('The deployment [fin]ished at [noon]');
  });
  it('marks nothing inside a word or for a query word longer than the word', () => {
    expect(marked(highlight('redeploy deplo', ['deploy']))).toBe('redeploy deplo');
    expect(marked(highlight('undeployed', ['deplo']))).toBe('undeployed');
  });
  it('marks the longest query word that begins a word', () => {
    expect(marked(highlight('deployment', ['de', 'deploy']))).toBe('[deploy]ment');
  });
  it('keeps the text whole: joined, the segments are the text', () => {
    const text = 'Ünïcode: İstanbul <b>bold</b> & café…';
    const segs = highlight(text, searchWords('ist caf b'));
    expect(segs.map((s) => s.text).join('')).toBe(text);
    expect(marked(segs)).toBe('Ünïcode: [İst]anbul <[b]>[b]old</[b]> & [caf]é…');
  });
  it('marks nothing without words', () => {
    expect(highlight('plain text', [])).toEqual([{ text: 'plain text', match: false }]);
    expect(highlight('', ['x'])).toEqual([]);
  });
});

describe('resultCount', () => {
  it('says one result or N results', () => {
    expect(resultCount(0)).toBe('0 results');
    expect(resultCount(1)).toBe('1 result');
    expect(resultCount(12)).toBe('12 results');
  });
});

describe('nextPage', () => {
  const at = (...ts: string[]) => ts.map((t) => ({ ts: t }));
  it('asks for the first page without before', () => {
    expect(nextPage([], 20)).toEqual({ limit: 20 });
  });
  it('asks from just after the oldest held, with room for those sharing its millisecond', () => {
    expect(nextPage(at('2026-12-05T10:00:02.000Z', '2026-12-05T10:00:01.999Z'), 20)).toEqual({
      before: '2026-12-05T10:00:02.000Z',
      limit: 21,
    });
    expect(nextPage(at('2026-12-05T10:00:01.500Z', '2026-12-05T10:00:01.000Z', '2026-12-05T10:00:01.000Z'), 20)).toEqual({
      before: '2026-12-05T10:00:01.001Z',
      limit: 22,
    });
  });
  it('asks from the oldest time on when more share it than one request holds', () => {
    const held = at(...Array.from({ length: MAX_SEARCH_LIMIT }, () => '2026-12-05T10:00:01.000Z'));
    expect(nextPage(held, 20)).toEqual({ before: '2026-12-05T10:00:01.000Z', limit: 20 });
  });
});
