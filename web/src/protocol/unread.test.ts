import { describe, expect, it } from 'vitest';
import type { Message } from './types';
import { UnreadCounter } from './unread';

const me = 'alice';
function msg(seq: number, from = 'bob', extra: Partial<Message> = {}): Message {
  return { id: `m${seq}`, room: 'general', seq, from, text: `m${seq}`, ts: '2026-01-01T00:00:00.000Z', ...extra };
}
const counter = () => new UnreadCounter(() => me);

describe('UnreadCounter', () => {
  it('counts messages from others after the read position, with those that mention the user', () => {
    const c = counter();
    c.change(undefined, msg(1));
    c.change(undefined, msg(2, 'alice'));
    c.change(undefined, msg(3, 'bob', { mentions: ['alice', 'carol'] }));
    c.change(undefined, msg(4, 'carol', { mentions: ['carol'] }));
    c.change(undefined, msg(5, 'bob', { deleted: true }));
    expect(c.counts()).toEqual({ unread: 3, mentions: 1 });
  });

  it('counts a message seen twice (its event and a page) once', () => {
    const c = counter();
    c.change(undefined, msg(1, 'bob', { mentions: ['alice'] }));
    c.change(undefined, msg(1, 'bob', { mentions: ['alice'] }));
    expect(c.counts()).toEqual({ unread: 1, mentions: 1 });
  });

  it('starts from the server counts and adds only later messages', () => {
    const c = counter();
    c.change(undefined, msg(9)); // seen live before the list arrived: the list covers it
    c.setBase(10, 7, 3, 1);
    expect(c.readSeq).toBe(7);
    expect(c.known).toBe(true);
    expect(c.counts()).toEqual({ unread: 3, mentions: 1 });
    c.change(undefined, msg(10)); // covered by the list as well
    c.change(undefined, msg(11, 'carol', { mentions: ['alice'] }));
    expect(c.counts()).toEqual({ unread: 4, mentions: 2 });
  });

  it('drops to zero when read to the end, and says nothing needs asking again', () => {
    const c = counter();
    c.setBase(10, 7, 3, 1);
    c.change(undefined, msg(11));
    expect(c.markRead(11)).toBe(false);
    expect(c.counts()).toEqual({ unread: 0, mentions: 0 });
    expect(c.readSeq).toBe(11);
  });

  it('never moves the read position back', () => {
    const c = counter();
    c.change(undefined, msg(5));
    c.markRead(5);
    expect(c.markRead(3)).toBe(false);
    expect(c.readSeq).toBe(5);
    c.setBase(5, 2, 3, 0); // a list older than what this tab knows
    expect(c.readSeq).toBe(5);
    expect(c.counts()).toEqual({ unread: 0, mentions: 0 });
  });

  it('asks for the counts again when read into the middle of the messages they cover', () => {
    const c = counter();
    c.setBase(10, 2, 8, 0);
    expect(c.markRead(6)).toBe(true);
    c.setBase(10, 6, 4, 0);
    expect(c.counts()).toEqual({ unread: 4, mentions: 0 });
  });

  it('forgets a deleted unread message, also one the server counted', () => {
    const c = counter();
    c.setBase(10, 5, 2, 1);
    const nine = msg(9, 'bob', { mentions: ['alice'] });
    c.change(nine, { ...nine, deleted: true, mentions: [], text: '' });
    expect(c.counts()).toEqual({ unread: 1, mentions: 0 });
    const twelve = msg(12);
    c.change(undefined, twelve);
    expect(c.counts()).toEqual({ unread: 2, mentions: 0 });
    c.change(twelve, { ...twelve, deleted: true });
    expect(c.counts()).toEqual({ unread: 1, mentions: 0 });
  });

  it('follows an edit that adds or takes back a mention', () => {
    const c = counter();
    const m = msg(3);
    c.change(undefined, m);
    const withMention = { ...m, mentions: ['alice'] };
    c.change(m, withMention);
    expect(c.counts()).toEqual({ unread: 1, mentions: 1 });
    c.change(withMention, m);
    expect(c.counts()).toEqual({ unread: 1, mentions: 0 });
  });

  it('counts nothing before it knows who the user is', () => {
    const c = new UnreadCounter(() => undefined);
    c.change(undefined, msg(1));
    expect(c.counts()).toEqual({ unread: 0, mentions: 0 });
  });
});
