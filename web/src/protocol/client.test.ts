import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  backoffDelay,
  ChatClient,
  splitFrame,
  TYPING_EXPIRY_MS,
  type WebSocketLike,
} from './client';
import type { Message } from './types';
import { dmRoomId, roomLabel } from './types';

/** A fake WebSocket the test plays the server through. */
class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  sent: any[] = [];
  closed = false;
  constructor(public url: string) {}
  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(data));
  }
  close(): void {
    this.closed = true;
    this.readyState = 3;
  }
  // server side
  open(user = 'alice', protocol = 1): void {
    this.readyState = 1;
    this.onopen?.({});
    this.push({ type: 'hello', protocol, user: { id: user } });
  }
  push(...objs: unknown[]): void {
    this.onmessage?.({ data: objs.map((o) => JSON.stringify(o)).join('\n') });
  }
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  last(type: string): any {
    return [...this.sent].reverse().find((c) => c.type === type);
  }
  ofType(type: string): any[] {
    return this.sent.filter((c) => c.type === type);
  }
  reply(cmd: { id: number }, data: unknown): void {
    this.push({ type: 'reply', re: cmd.id, ok: true, data });
  }
  fail(cmd: { id: number }, code: string, message = code): void {
    this.push({ type: 'reply', re: cmd.id, ok: false, error: { code, message } });
  }
}

function msg(room: string, seq: number, from: string, text = `m${seq}`, cid?: string): Message {
  return { id: `${room}#${seq}`, room, seq, from, text, ts: new Date(seq * 1000).toISOString(), cid };
}

let sockets: FakeSocket[];
let client: ChatClient;

function newClient(extra: Partial<ConstructorParameters<typeof ChatClient>[0]> = {}): ChatClient {
  return new ChatClient({
    url: 'ws://test/ws',
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    baseDelayMs: 100,
    maxDelayMs: 1000,
    random: () => 0.5,
    ...extra,
  });
}

const flush = () => new Promise<void>((r) => queueMicrotask(r)).then(() => Promise.resolve());

beforeEach(() => {
  vi.useFakeTimers();
  sockets = [];
  client = newClient();
});

afterEach(() => {
  client.stop();
  vi.useRealTimers();
});

describe('splitFrame', () => {
  it('splits a frame on newlines into JSON objects', () => {
    const frame = '{"type":"presence","user":"a","status":"online"}\n{"type":"typing","room":"r","user":"a","active":true}';
    const out = splitFrame(frame);
    expect(out.map((o) => o.type)).toEqual(['presence', 'typing']);
  });
  it('ignores empty lines and a trailing newline, and skips malformed lines', () => {
    expect(splitFrame('{"type":"hello","protocol":1,"user":{"id":"a"}}\n\n')).toHaveLength(1);
    expect(splitFrame('not json\n{"type":"x"}').map((o) => o.type)).toEqual(['x']);
  });
  it('handles coalesced events in one frame through the client', () => {
    client.start();
    sockets[0].open();
    void client.join('general');
    const join = sockets[0].last('join');
    sockets[0].reply(join, { room: 'general', messages: [], has_more: false });
    // two messages in one frame
    sockets[0].push({ type: 'message', message: msg('general', 1, 'bob') }, { type: 'message', message: msg('general', 2, 'bob') });
    expect(client.getSnapshot().rooms.general.messages.map((m) => m.seq)).toEqual([1, 2]);
  });
});

describe('reply routing', () => {
  it('resolves each request with the reply of the same id, in any order', async () => {
    client.start();
    sockets[0].open();
    const a = client.request({ type: 'history', room: 'a' });
    const b = client.request({ type: 'history', room: 'b' });
    const [ca, cb] = sockets[0].ofType('history');
    expect(ca.id).not.toEqual(cb.id);
    expect(ca.id).toBeGreaterThan(0);
    sockets[0].reply(cb, { room: 'b', messages: [], has_more: false });
    sockets[0].reply(ca, { room: 'a', messages: [], has_more: true });
    await expect(a).resolves.toMatchObject({ room: 'a', has_more: true });
    await expect(b).resolves.toMatchObject({ room: 'b', has_more: false });
  });
  it('rejects with the error code of a failed reply', async () => {
    client.start();
    sockets[0].open();
    const p = client.request({ type: 'join', room: 'dm:bob_carol' });
    sockets[0].fail(sockets[0].last('join'), 'forbidden', 'not your room');
    await expect(p).rejects.toMatchObject({ code: 'forbidden', message: 'not your room' });
  });
  it('rejects in-flight requests when the connection drops, and times out silent ones', async () => {
    client.start();
    sockets[0].open();
    const p = client.request({ type: 'history', room: 'a' });
    sockets[0].drop();
    await expect(p).rejects.toMatchObject({ code: 'disconnected' });
    vi.advanceTimersByTime(1000);
    sockets[1].open();
    const q = client.request({ type: 'history', room: 'a' });
    vi.advanceTimersByTime(15001);
    await expect(q).rejects.toMatchObject({ code: 'unavailable' });
  });
});

describe('reconnect and resume', () => {
  it('backs off exponentially with jitter, capped', () => {
    const d = (n: number, r: number) => backoffDelay(n, 100, 1000, () => r);
    expect(d(0, 0)).toBe(50);
    expect(d(0, 1)).toBe(100);
    expect(d(1, 0.5)).toBe(150);
    expect(d(3, 1)).toBe(800);
    expect(d(10, 1)).toBe(1000);
    expect(d(10, 0)).toBe(500);
  });

  it('shows reconnecting, retries with growing delays, and resets after hello', async () => {
    client.start();
    expect(client.getSnapshot().status).toBe('connecting');
    sockets[0].open();
    expect(client.getSnapshot().status).toBe('open');
    sockets[0].drop();
    expect(client.getSnapshot().status).toBe('reconnecting');
    // attempt 0: 75 ms with random 0.5
    vi.advanceTimersByTime(74);
    expect(sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(2);
    sockets[1].drop();
    // attempt 1: 150 ms
    await vi.advanceTimersByTimeAsync(149);
    expect(sockets).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sockets).toHaveLength(3);
    sockets[2].open();
    expect(client.getSnapshot().status).toBe('open');
    sockets[2].drop();
    await vi.advanceTimersByTimeAsync(75); // back to attempt 0
    expect(sockets).toHaveLength(4);
  });

  it('resumes every joined room with join + since = last seq seen, without duplicates', async () => {
    client.start();
    sockets[0].open();
    void client.join('general');
    void client.join('random');
    const [jg, jr] = sockets[0].ofType('join');
    expect(jg).toMatchObject({ room: 'general' });
    expect(jg.since).toBeUndefined();
    sockets[0].reply(jg, { room: 'general', messages: [msg('general', 1, 'bob'), msg('general', 2, 'bob')], has_more: false });
    sockets[0].reply(jr, { room: 'random', messages: [], has_more: false });
    sockets[0].push({ type: 'message', message: msg('general', 3, 'bob') });
    await flush();
    sockets[0].drop(1008);
    await vi.advanceTimersByTimeAsync(100);
    sockets[1].open();
    const joins = sockets[1].ofType('join');
    expect(joins).toHaveLength(2);
    const g = joins.find((j) => j.room === 'general');
    const r = joins.find((j) => j.room === 'random');
    expect(g.since).toBe(3);
    expect(r.since).toBeUndefined(); // nothing seen yet: a plain join
    // The resume reply overlaps with an event already held: no duplicate.
    sockets[1].push({ type: 'message', message: msg('general', 4, 'carol') });
    sockets[1].reply(g, { room: 'general', messages: [msg('general', 4, 'carol'), msg('general', 5, 'bob')], has_more: false });
    await flush();
    expect(client.getSnapshot().rooms.general.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps joining with since while has_more says newer messages exist', async () => {
    client.start();
    sockets[0].open();
    void client.join('busy');
    sockets[0].reply(sockets[0].last('join'), { room: 'busy', messages: [msg('busy', 1, 'bob')], has_more: false });
    await flush();
    sockets[0].drop();
    await vi.advanceTimersByTimeAsync(100);
    sockets[1].open();
    const first = sockets[1].last('join');
    expect(first.since).toBe(1);
    sockets[1].reply(first, { room: 'busy', messages: [msg('busy', 2, 'bob'), msg('busy', 3, 'bob')], has_more: true });
    await flush();
    await flush();
    const second = sockets[1].last('join');
    expect(second.id).not.toBe(first.id);
    expect(second.since).toBe(3);
  });

  it('asks beforeReconnect and stops when the session ended', async () => {
    const ended = vi.fn();
    client = newClient({ beforeReconnect: async () => false, onSessionEnded: ended });
    client.start();
    sockets[0].open();
    sockets[0].drop();
    await vi.advanceTimersByTimeAsync(100);
    expect(sockets).toHaveLength(1);
    expect(ended).toHaveBeenCalledOnce();
    expect(client.getSnapshot().status).toBe('closed');
  });
});

describe('sending and de-duplication', () => {
  function joined(room = 'general'): FakeSocket {
    client.start();
    sockets[0].open('alice');
    void client.open(room);
    sockets[0].reply(sockets[0].last('join'), { room, messages: [], has_more: false });
    return sockets[0];
  }

  it('shows a pending message at once and confirms it by the reply with the same cid', async () => {
    const s = joined();
    const cid = client.send('general', '  hello  ');
    expect(client.getSnapshot().pending).toEqual([expect.objectContaining({ cid, text: 'hello', status: 'sending' })]);
    const cmd = s.last('send');
    expect(cmd).toMatchObject({ room: 'general', text: 'hello', cid });
    // the event can come before the reply: still one message, no pending
    const stored = { ...msg('general', 1, 'alice', 'hello'), cid };
    s.push({ type: 'message', message: stored });
    expect(client.getSnapshot().pending).toEqual([]);
    s.reply(cmd, { message: stored });
    await flush();
    expect(client.getSnapshot().rooms.general.messages).toHaveLength(1);
    expect(client.getSnapshot().pending).toEqual([]);
  });

  it('de-duplicates by message id and by sender + cid', () => {
    const s = joined();
    const plain = msg('general', 0, 'bob', 'no cid');
    s.push({ type: 'message', message: plain }, { type: 'message', message: plain });
    expect(client.getSnapshot().rooms.general.messages).toHaveLength(1);
    const m = msg('general', 1, 'bob', 'x', 'c1');
    s.push({ type: 'message', message: m }, { type: 'message', message: m });
    s.push({ type: 'message', message: { ...m, id: 'other-id', seq: 2 } });
    expect(client.getSnapshot().rooms.general.messages).toHaveLength(2);
    // the same cid from another user is another message
    s.push({ type: 'message', message: { ...msg('general', 3, 'carol', 'y'), cid: 'c1' } });
    expect(client.getSnapshot().rooms.general.messages.map((x) => x.seq)).toEqual([0, 1, 3]);
  });

  it('marks a rejected send failed; Retry resends with the same cid', async () => {
    const s = joined();
    const cid = client.send('general', 'hi');
    s.fail(s.last('send'), 'rate_limited', 'slow down');
    await flush();
    expect(client.getSnapshot().pending[0]).toMatchObject({ cid, status: 'failed', error: 'slow down' });
    client.retry(cid);
    expect(client.getSnapshot().pending[0].status).toBe('sending');
    const again = s.ofType('send');
    expect(again).toHaveLength(2);
    expect(again[1].cid).toBe(cid);
    s.reply(again[1], { message: { ...msg('general', 1, 'alice', 'hi'), cid } });
    await flush();
    expect(client.getSnapshot().pending).toEqual([]);
    expect(client.getSnapshot().rooms.general.messages.map((m) => m.text)).toEqual(['hi']);
  });

  it('resends an unconfirmed message with the same cid after a reconnect', async () => {
    const s = joined();
    const cid = client.send('general', 'in flight');
    s.drop();
    await flush();
    expect(client.getSnapshot().pending[0].status).toBe('sending');
    await vi.advanceTimersByTimeAsync(100);
    sockets[1].open('alice');
    const resent = sockets[1].last('send');
    expect(resent).toMatchObject({ cid, text: 'in flight' });
    // the resume join brings the stored original, the reply repeats it: one message
    const stored = { ...msg('general', 1, 'alice', 'in flight'), cid };
    sockets[1].reply(sockets[1].last('join'), { room: 'general', messages: [stored], has_more: false });
    sockets[1].reply(resent, { message: stored });
    await flush();
    expect(client.getSnapshot().rooms.general.messages).toHaveLength(1);
    expect(client.getSnapshot().pending).toEqual([]);
  });

  it('refuses empty and over-long text without sending', () => {
    const s = joined();
    expect(() => client.send('general', '   ')).toThrow(/empty/);
    expect(() => client.send('general', 'x'.repeat(4001))).toThrow(/4000/);
    expect(s.ofType('send')).toHaveLength(0);
  });
});

describe('unread counts and DMs', () => {
  it('counts messages from others in rooms not on screen; opening clears', () => {
    client.start();
    sockets[0].open('alice');
    void client.join('general');
    sockets[0].reply(sockets[0].last('join'), { room: 'general', messages: [msg('general', 1, 'bob')], has_more: false });
    void client.open('random');
    expect(client.getSnapshot().rooms.general.unread).toBe(0); // history is not unread
    sockets[0].push({ type: 'message', message: msg('general', 2, 'bob') });
    sockets[0].push({ type: 'message', message: msg('general', 3, 'alice') });
    expect(client.getSnapshot().rooms.general.unread).toBe(1);
    void client.open('general');
    expect(client.getSnapshot().rooms.general.unread).toBe(0);
  });

  it('lists a DM room on its first message event, without a join', () => {
    client.start();
    sockets[0].open('alice');
    const room = dmRoomId('bob', 'alice');
    expect(room).toBe('dm:alice_bob');
    sockets[0].push({ type: 'message', message: msg(room, 1, 'bob', 'psst') });
    const r = client.getSnapshot().rooms[room];
    expect(r).toMatchObject({ kind: 'dm', unread: 1, joined: false });
    expect(roomLabel(room, 'alice')).toBe('bob');
    expect(sockets[0].ofType('join')).toHaveLength(0);
  });

  it('catches up an unopened DM after a reconnect and counts what was missed', async () => {
    client.start();
    sockets[0].open('alice');
    const room = 'dm:alice_bob';
    sockets[0].push({ type: 'message', message: msg(room, 1, 'bob', 'one') });
    sockets[0].drop();
    await vi.advanceTimersByTimeAsync(100);
    sockets[1].open('alice');
    const join = sockets[1].last('join');
    expect(join).toMatchObject({ room, since: 1 });
    sockets[1].reply(join, { room, messages: [msg(room, 2, 'bob', 'two'), msg(room, 3, 'bob', 'three')], has_more: false });
    await flush();
    expect(client.getSnapshot().rooms[room]).toMatchObject({ unread: 3, loaded: false });
    // opening it later loads the newest page
    void client.open(room);
    const load = sockets[1].last('join');
    expect(load.id).not.toBe(join.id);
    expect(load.since).toBeUndefined();
    expect(client.getSnapshot().rooms[room].unread).toBe(0);
  });
});

describe('typing', () => {
  function withRoom(): FakeSocket {
    client.start();
    sockets[0].open('alice');
    void client.join('general');
    sockets[0].reply(sockets[0].last('join'), { room: 'general', messages: [], has_more: false });
    return sockets[0];
  }
  const typing = () => client.getSnapshot().rooms.general.typing;

  it('expires a typing user after 6 s without a repeat', () => {
    const s = withRoom();
    s.push({ type: 'typing', room: 'general', user: 'bob', active: true });
    expect(typing()).toEqual(['bob']);
    vi.advanceTimersByTime(5000);
    s.push({ type: 'typing', room: 'general', user: 'bob', active: true }); // repeat renews
    vi.advanceTimersByTime(TYPING_EXPIRY_MS - 1);
    expect(typing()).toEqual(['bob']);
    vi.advanceTimersByTime(1);
    expect(typing()).toEqual([]);
  });

  it('ends on active:false and on a message from that user', () => {
    const s = withRoom();
    s.push({ type: 'typing', room: 'general', user: 'bob', active: true });
    s.push({ type: 'typing', room: 'general', user: 'carol', active: true });
    expect(typing()).toEqual(['bob', 'carol']);
    s.push({ type: 'typing', room: 'general', user: 'carol', active: false });
    expect(typing()).toEqual(['bob']);
    s.push({ type: 'message', message: msg('general', 1, 'bob') });
    expect(typing()).toEqual([]);
  });

  it('sends typing active:true at most every 3 s, and active:false on send', () => {
    const s = withRoom();
    client.typing('general');
    client.typing('general');
    vi.advanceTimersByTime(2999);
    client.typing('general');
    expect(s.ofType('typing')).toEqual([{ type: 'typing', room: 'general', active: true }]);
    vi.advanceTimersByTime(1);
    client.typing('general');
    expect(s.ofType('typing')).toHaveLength(2);
    client.send('general', 'done');
    expect(s.ofType('typing')[2]).toEqual({ type: 'typing', room: 'general', active: false });
  });

  it('sends active:false after the user goes idle', () => {
    const s = withRoom();
    client.typing('general');
    vi.advanceTimersByTime(4000);
    expect(s.ofType('typing').map((t) => t.active)).toEqual([true, false]);
  });
});

describe('history', () => {
  it('loads older messages with history before the oldest seq held', async () => {
    client.start();
    sockets[0].open('alice');
    void client.open('general');
    const page = Array.from({ length: 3 }, (_, i) => msg('general', 51 + i, 'bob'));
    sockets[0].reply(sockets[0].last('join'), { room: 'general', messages: page, has_more: true });
    await flush();
    const p = client.loadOlder('general', 2);
    const h = sockets[0].last('history');
    expect(h).toMatchObject({ room: 'general', before: 51, limit: 2 });
    sockets[0].reply(h, { room: 'general', messages: [msg('general', 49, 'bob'), msg('general', 50, 'bob')], has_more: false });
    await expect(p).resolves.toBe(2);
    const r = client.getSnapshot().rooms.general;
    expect(r.messages.map((m) => m.seq)).toEqual([49, 50, 51, 52, 53]);
    expect(r.hasOlder).toBe(false);
    await expect(client.loadOlder('general')).resolves.toBe(0);
  });
});

describe('presence', () => {
  it('updates and adds users from presence events', () => {
    client.start();
    sockets[0].open('alice');
    client.setUsers([{ id: 'alice', status: 'online' }, { id: 'bob', status: 'online' }]);
    sockets[0].push({ type: 'presence', user: 'bob', status: 'offline', last_seen: '2026-01-01T00:00:00.000Z' });
    sockets[0].push({ type: 'presence', user: 'carol', status: 'online', last_seen: '2026-01-01T00:00:01.000Z' });
    const users = client.getSnapshot().users;
    expect(users.bob).toMatchObject({ status: 'offline', last_seen: '2026-01-01T00:00:00.000Z' });
    expect(users.carol.status).toBe('online');
  });
});

// ---- protocol version 2 ----------------------------------------------------

function v2msg(room: string, seq: number, from: string, rev: number, extra: Partial<Message> = {}): Message {
  return { ...msg(room, seq, from), rev, ...extra };
}

/** A v2 connection as alice, listed rooms answered, with room open and its join answered. */
async function v2open(room = 'general', messages: Message[] = [], rooms: Parameters<ChatClient['addRooms']>[0] = []): Promise<FakeSocket> {
  client.start();
  sockets[0].open('alice', 2);
  client.addRooms(rooms);
  void client.open(room);
  sockets[0].reply(sockets[0].last('join'), { room, messages, has_more: false });
  await flush();
  return sockets[0];
}

const room = (id = 'general') => client.getSnapshot().rooms[id];

describe('v2: edit, delete, react, reply', () => {
  it('sends edit, delete and react and shows the state each reply carries', async () => {
    const s = await v2open('general', [v2msg('general', 1, 'alice', 1)]);
    const edit = client.edit('general', 1, '  fixed  ');
    expect(s.last('edit')).toMatchObject({ type: 'edit', room: 'general', seq: 1, text: 'fixed' });
    s.reply(s.last('edit'), { message: v2msg('general', 1, 'alice', 2, { text: 'fixed', edited_ts: '2026-01-01T00:00:01.000Z' }) });
    await edit;
    expect(room().messages[0]).toMatchObject({ text: 'fixed', rev: 2, edited_ts: '2026-01-01T00:00:01.000Z' });

    const react = client.react('general', 1, '👍', true);
    expect(s.last('react')).toMatchObject({ type: 'react', room: 'general', seq: 1, emoji: '👍', active: true });
    s.reply(s.last('react'), { message: v2msg('general', 1, 'alice', 3, { text: 'fixed', reactions: [{ emoji: '👍', users: ['alice'] }] }) });
    await react;
    expect(room().messages[0].reactions).toEqual([{ emoji: '👍', users: ['alice'] }]);

    const del = client.deleteMessage('general', 1);
    expect(s.last('delete')).toMatchObject({ type: 'delete', room: 'general', seq: 1 });
    s.reply(s.last('delete'), { message: v2msg('general', 1, 'alice', 4, { text: '', deleted: true }) });
    await del;
    expect(room().messages[0]).toMatchObject({ deleted: true, text: '' });
  });

  it('rejects an edit with the error code and keeps the message', async () => {
    const s = await v2open('general', [v2msg('general', 1, 'bob', 1)]);
    const edit = client.edit('general', 1, 'not mine');
    s.fail(s.last('edit'), 'forbidden', 'only the author may edit');
    await expect(edit).rejects.toMatchObject({ code: 'forbidden' });
    expect(room().messages[0].text).toBe('m1');
    await expect(client.edit('general', 1, '   ')).rejects.toMatchObject({ code: 'bad_request' });
    expect(s.ofType('edit')).toHaveLength(1);
  });

  it('sends a reply with reply_to, also when resent after a reconnect', async () => {
    const s = await v2open('general', [v2msg('general', 1, 'bob', 1)]);
    const cid = client.send('general', 'answer', 1);
    expect(s.last('send')).toMatchObject({ room: 'general', text: 'answer', cid, reply_to: 1 });
    expect(client.getSnapshot().pending[0]).toMatchObject({ cid, replyTo: 1 });
    s.drop();
    await vi.advanceTimersByTimeAsync(100);
    sockets[1].open('alice', 2);
    expect(sockets[1].last('send')).toMatchObject({ cid, reply_to: 1 });
    client.send('general', 'no reply');
    expect(sockets[1].last('send').reply_to).toBeUndefined();
  });

  it('applies update events by rev: a later state replaces the message, an earlier one is ignored', async () => {
    const s = await v2open('general', [v2msg('general', 1, 'bob', 1), v2msg('general', 2, 'bob', 2)]);
    s.push({ type: 'update', message: v2msg('general', 1, 'bob', 3, { text: 'edited', edited_ts: '2026-01-01T00:00:03.000Z' }) });
    expect(room().messages[0].text).toBe('edited');
    // a reply that overtook its event: same state, then the older event state must not win
    s.push({ type: 'update', message: v2msg('general', 1, 'bob', 2, { text: 'older' }) });
    expect(room().messages[0].text).toBe('edited');
    s.push({ type: 'update', message: v2msg('general', 2, 'bob', 4, { text: '', deleted: true }) });
    expect(room().messages.map((m) => [m.seq, m.text, !!m.deleted])).toEqual([
      [1, 'edited', false],
      [2, '', true],
    ]);
    expect(room().lastRev).toBe(4);
  });

  it('keeps the quote of a reply to an older message: fetched once, updated live', async () => {
    const s = await v2open('general', [v2msg('general', 10, 'bob', 10, { reply_to: 3 })]);
    client.fetchQuoted('general', 3);
    client.fetchQuoted('general', 3);
    const h = s.ofType('history');
    expect(h).toHaveLength(1);
    expect(h[0]).toMatchObject({ room: 'general', before: 4, limit: 1 });
    s.reply(h[0], { room: 'general', messages: [v2msg('general', 3, 'carol', 3, { text: 'the question' })], has_more: true });
    await flush();
    expect(client.message('general', 3)?.text).toBe('the question');
    s.push({ type: 'update', message: v2msg('general', 3, 'carol', 11, { text: '', deleted: true }) });
    expect(client.message('general', 3)?.deleted).toBe(true);
    expect(room().messages.map((m) => m.seq)).toEqual([10]); // not put into the log
  });
});

describe('v2: showing the message a reply answers', () => {
  it('loads older pages until the message is held', async () => {
    const page = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => v2msg('general', from + i, 'bob', from + i));
    client.start();
    sockets[0].open('alice', 2);
    void client.open('general');
    const s = sockets[0];
    s.reply(s.last('join'), { room: 'general', messages: page(201, 250), has_more: true });
    await flush();
    const found = client.loadUntil('general', 50);
    expect(s.last('history')).toMatchObject({ before: 201, limit: 100 });
    s.reply(s.last('history'), { room: 'general', messages: page(101, 200), has_more: true });
    for (let i = 0; i < 5; i++) await flush();
    expect(s.last('history')).toMatchObject({ before: 101 });
    s.reply(s.last('history'), { room: 'general', messages: page(1, 100), has_more: false });
    await expect(found).resolves.toBe(true);
    expect(room().messages).toHaveLength(250);
    await expect(client.loadUntil('general', 999)).resolves.toBe(false);
  });
});

describe('v2: reconnect with since_rev', () => {
  it('resumes with since and since_rev, applies changes as current state, and repeats while changes_more', async () => {
    const s = await v2open('general', [v2msg('general', 1, 'bob', 1), v2msg('general', 2, 'alice', 3, { text: 'edited' })]);
    s.push({ type: 'message', message: v2msg('general', 3, 'bob', 4) });
    expect(room().lastRev).toBe(4);
    s.drop();
    await vi.advanceTimersByTimeAsync(100);
    const t = sockets[1];
    t.open('alice', 2);
    const first = t.last('join');
    expect(first).toMatchObject({ room: 'general', since: 3, since_rev: 4 });
    t.reply(first, {
      room: 'general',
      messages: [v2msg('general', 4, 'carol', 6, { reactions: [{ emoji: '🎉', users: ['bob'] }] })],
      has_more: false,
      changes: [v2msg('general', 1, 'bob', 5, { text: 'bob edited' }), v2msg('general', 4, 'carol', 6, { reactions: [{ emoji: '🎉', users: ['bob'] }] })],
      changes_more: true,
    });
    await flush();
    await flush();
    const second = t.last('join');
    expect(second.id).not.toBe(first.id);
    expect(second).toMatchObject({ since: 4, since_rev: 6 });
    t.reply(second, { room: 'general', messages: [], has_more: false, changes: [v2msg('general', 2, 'alice', 7, { text: '', deleted: true })], changes_more: false });
    await flush();
    await flush();
    expect(t.ofType('join')).toHaveLength(2);
    expect(room().messages.map((m) => [m.seq, m.text, m.rev])).toEqual([
      [1, 'bob edited', 5],
      [2, '', 7],
      [3, 'm3', 4],
      [4, 'm4', 6],
    ]);
    expect(room().messages[3].reactions).toEqual([{ emoji: '🎉', users: ['bob'] }]);
    expect(room().lastRev).toBe(7);
  });

  it('ignores changes of messages older than those held', async () => {
    const s = await v2open('general', [v2msg('general', 50, 'bob', 60)]);
    s.drop();
    await vi.advanceTimersByTimeAsync(100);
    sockets[1].open('alice', 2);
    const j = sockets[1].last('join');
    expect(j).toMatchObject({ since: 50, since_rev: 60 });
    sockets[1].reply(j, { room: 'general', messages: [], has_more: false, changes: [v2msg('general', 7, 'bob', 61, { text: 'old edit' })], changes_more: false });
    await flush();
    expect(room().messages.map((m) => m.seq)).toEqual([50]);
    expect(room().lastRev).toBe(61);
  });

  it('does not take the rev of a command reply as seen in order', async () => {
    const s = await v2open('general', [v2msg('general', 1, 'alice', 1)]);
    const edit = client.edit('general', 1, 'x');
    s.reply(s.last('edit'), { message: v2msg('general', 1, 'alice', 9, { text: 'x' }) });
    await edit;
    expect(room().messages[0].rev).toBe(9);
    expect(room().lastRev).toBe(1); // revs 2..8 may still be on their way as events
  });
});

describe('v2: unread, mentions and read positions', () => {
  const listed = (id: string, last: number, read: number, unread: number, mentions = 0) => ({
    id,
    kind: 'public' as const,
    last_seq: last,
    rev: last,
    read_seq: read,
    unread,
    mentions,
  });

  it('takes the counts from GET /api/rooms and keeps them current from events', async () => {
    const s = await v2open('random', [], [listed('general', 10, 7, 3, 1), listed('random', 0, 0, 0)]);
    expect(room()).toMatchObject({ unread: 3, mentions: 1, readSeq: 7 });
    void client.join('general');
    s.reply(s.last('join'), { room: 'general', messages: [v2msg('general', 10, 'bob', 10)], has_more: false });
    await flush();
    expect(room().unread).toBe(3);
    s.push({ type: 'message', message: v2msg('general', 11, 'bob', 11, { mentions: ['alice'] }) });
    s.push({ type: 'message', message: v2msg('general', 12, 'alice', 12) });
    expect(room()).toMatchObject({ unread: 4, mentions: 2 });
  });

  it('marks the open room read when its newest message is seen, one read in flight at a time', async () => {
    const s = await v2open('general', [v2msg('general', 1, 'bob', 1), v2msg('general', 2, 'bob', 2)], [listed('general', 2, 0, 2)]);
    const reads = () => s.ofType('read');
    expect(reads()).toEqual([expect.objectContaining({ type: 'read', room: 'general', seq: 2 })]);
    expect(room()).toMatchObject({ unread: 0, readSeq: 2 });
    s.push({ type: 'message', message: v2msg('general', 3, 'bob', 3) });
    s.push({ type: 'message', message: v2msg('general', 4, 'bob', 4) });
    expect(room().unread).toBe(0);
    expect(reads()).toHaveLength(1); // the first is still unanswered
    s.reply(reads()[0], { room: 'general', read_seq: 2 });
    await flush();
    expect(reads()).toHaveLength(2);
    expect(reads()[1]).toMatchObject({ seq: 4 });
    s.reply(reads()[1], { room: 'general', read_seq: 4 });
    await flush();
    expect(reads()).toHaveLength(2);
  });

  it('waits for the listed read position before marking read, so the divider knows where reading stopped', async () => {
    client.start();
    sockets[0].open('alice', 2);
    void client.open('general');
    const s = sockets[0];
    s.reply(s.last('join'), { room: 'general', messages: [v2msg('general', 5, 'bob', 5), v2msg('general', 6, 'bob', 6)], has_more: false });
    await flush();
    expect(s.ofType('read')).toHaveLength(0);
    client.addRooms([listed('general', 6, 4, 2)]);
    expect(room()).toMatchObject({ newAfter: 4, unread: 0, readSeq: 6 });
    expect(s.last('read')).toMatchObject({ room: 'general', seq: 6 });
  });

  it('keeps what arrives while the page is hidden or the log scrolled up unread, behind a divider', async () => {
    const s = await v2open('general', [v2msg('general', 1, 'bob', 1)], [listed('general', 1, 1, 0)]);
    expect(room().newAfter).toBeUndefined();
    client.setPageVisible(false);
    s.push({ type: 'message', message: v2msg('general', 2, 'bob', 2) });
    s.push({ type: 'message', message: v2msg('general', 3, 'bob', 3) });
    expect(room()).toMatchObject({ unread: 2, newAfter: 1 });
    client.setPageVisible(true);
    expect(room()).toMatchObject({ unread: 0, readSeq: 3, newAfter: 1 });
    client.setAtBottom(false);
    s.push({ type: 'message', message: v2msg('general', 4, 'bob', 4) });
    expect(room().unread).toBe(1);
    client.setAtBottom(true);
    expect(room().unread).toBe(0);
  });

  it('drops the counts when another tab reads the room (read event of the user)', async () => {
    const s = await v2open('random', [], [listed('general', 10, 7, 3, 1), listed('random', 0, 0, 0)]);
    s.push({ type: 'read', room: 'general', user: 'alice', seq: 10 });
    expect(room()).toMatchObject({ unread: 0, mentions: 0, readSeq: 10 });
    expect(s.ofType('read')).toHaveLength(0); // nothing to tell the server
  });

  it('asks for the counts again when a read lands in the middle of those the server gave', async () => {
    const stale = vi.fn();
    client = newClient({ onCountsStale: stale });
    const s = await v2open('random', [], [listed('general', 10, 2, 8), listed('random', 0, 0, 0)]);
    s.push({ type: 'read', room: 'general', user: 'alice', seq: 6 });
    expect(stale).toHaveBeenCalledOnce();
  });

  it('forgets a deleted unread message', async () => {
    const s = await v2open('random', [], [listed('random', 0, 0, 0)]);
    void client.join('general');
    s.reply(s.last('join'), { room: 'general', messages: [], has_more: false });
    await flush();
    s.push({ type: 'message', message: v2msg('general', 1, 'bob', 1, { mentions: ['alice'] }) });
    expect(room()).toMatchObject({ unread: 1, mentions: 1 });
    s.push({ type: 'update', message: v2msg('general', 1, 'bob', 2, { text: '', deleted: true }) });
    expect(room()).toMatchObject({ unread: 0, mentions: 0 });
  });

  it('counts a mention in a room not joined and notifies once, and notifies DMs from others', async () => {
    const notify = vi.fn();
    client = newClient({ onNotify: notify });
    const s = await v2open('random', [], [listed('random', 0, 0, 0)]);
    const m = v2msg('help', 4, 'bob', 4, { mentions: ['alice'] });
    s.push({ type: 'mention', message: m }, { type: 'mention', message: m });
    expect(room('help')).toMatchObject({ unread: 1, mentions: 1, joined: false, messages: [] });
    expect(notify).toHaveBeenCalledTimes(1);
    expect(notify).toHaveBeenLastCalledWith(m, 'mention');
    const dm = v2msg('dm:alice_bob', 1, 'bob', 1);
    s.push({ type: 'message', message: dm });
    expect(notify).toHaveBeenLastCalledWith(dm, 'direct');
    s.push({ type: 'message', message: v2msg('dm:alice_bob', 2, 'alice', 2) });
    s.push({ type: 'message', message: v2msg('general', 1, 'bob', 1) });
    expect(notify).toHaveBeenCalledTimes(2);
  });

  it('resends an unacknowledged read position after a reconnect', async () => {
    const s = await v2open('general', [v2msg('general', 3, 'bob', 3)], [listed('general', 3, 0, 1)]);
    expect(s.last('read')).toMatchObject({ seq: 3 });
    s.drop();
    await vi.advanceTimersByTimeAsync(100);
    sockets[1].open('alice', 2);
    expect(sockets[1].last('read')).toMatchObject({ room: 'general', seq: 3 });
  });

  it('does not send read to a version 1 server, and still clears counts on opening', async () => {
    client.start();
    sockets[0].open('alice', 1);
    sockets[0].push({ type: 'message', message: msg('dm:alice_bob', 1, 'bob') });
    expect(room('dm:alice_bob').unread).toBe(1);
    void client.open('dm:alice_bob');
    expect(room('dm:alice_bob').unread).toBe(0);
    expect(sockets[0].ofType('read')).toHaveLength(0);
  });
});

describe('v2: DMs and group DMs', () => {
  it('lists a group room on its first message, with its members', async () => {
    client.start();
    sockets[0].open('alice', 2);
    const g = 'gdm:alice_bob_carol';
    sockets[0].push({ type: 'message', message: v2msg(g, 1, 'carol', 1) });
    expect(room(g)).toMatchObject({ kind: 'group', members: ['alice', 'bob', 'carol'], unread: 1 });
  });

  it('catches up an unopened group room after a reconnect', async () => {
    client.start();
    sockets[0].open('alice', 2);
    const g = 'gdm:alice_bob_carol';
    sockets[0].push({ type: 'message', message: v2msg(g, 1, 'carol', 1) });
    sockets[0].drop();
    await vi.advanceTimersByTimeAsync(100);
    sockets[1].open('alice', 2);
    expect(sockets[1].last('join')).toMatchObject({ room: g, since: 1, since_rev: 1 });
  });

  it('keeps the other members read positions for read receipts, never moving back', async () => {
    const g = 'gdm:alice_bob_carol';
    const s = await v2open(g, [v2msg(g, 1, 'alice', 1), v2msg(g, 2, 'alice', 2)], [{ id: g, kind: 'group', members: ['alice', 'bob', 'carol'], last_seq: 2, read_seq: 2, unread: 0, mentions: 0 }]);
    s.push({ type: 'read', room: g, user: 'bob', seq: 2 });
    s.push({ type: 'read', room: g, user: 'carol', seq: 1 });
    s.push({ type: 'read', room: g, user: 'bob', seq: 1 });
    expect(room(g).readBy).toEqual({ bob: 2, carol: 1 });
    // a public room has no receipts
    s.push({ type: 'read', room: 'general', user: 'bob', seq: 5 });
    expect(room('general')).toBeUndefined();
  });

  describe('read receipts from GET /api/rooms', () => {
    const dm = dmRoomId('alice', 'bob');
    const g = 'gdm:alice_bob_carol';
    const listedDm = (reads?: Record<string, number>) => ({ id: dm, kind: 'dm' as const, members: ['alice', 'bob'], last_seq: 12, read_seq: 12, unread: 0, mentions: 0, reads });

    it('takes the other members read positions from the rooms list', async () => {
      await v2open(dm, [v2msg(dm, 12, 'alice', 12)], [
        listedDm({ bob: 12 }),
        { id: g, kind: 'group', members: ['alice', 'bob', 'carol'], last_seq: 3, read_seq: 3, unread: 0, mentions: 0, reads: { bob: 3, carol: 1 } },
        { id: 'general', kind: 'public', last_seq: 5, read_seq: 5, unread: 0, mentions: 0, reads: { bob: 5 } },
      ]);
      expect(room(dm).readBy).toEqual({ bob: 12 });
      expect(room(g).readBy).toEqual({ bob: 3, carol: 1 });
      expect(room('general').readBy).toEqual({});
    });

    it('keeps a live read event newer than the rooms list', async () => {
      const s = await v2open(dm, [v2msg(dm, 12, 'alice', 12)], [listedDm({ bob: 10 })]);
      s.push({ type: 'read', room: dm, user: 'bob', seq: 12 });
      expect(room(dm).readBy).toEqual({ bob: 12 });
    });

    it('does not move a position back when the rooms list is older than a live read event', async () => {
      const s = await v2open(dm, [v2msg(dm, 12, 'alice', 12)], [listedDm()]);
      s.push({ type: 'read', room: dm, user: 'bob', seq: 12 });
      client.addRooms([listedDm({ bob: 9 })]);
      expect(room(dm).readBy).toEqual({ bob: 12 });
    });
  });
});
