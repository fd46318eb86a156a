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
  open(user = 'alice'): void {
    this.readyState = 1;
    this.onopen?.({});
    this.push({ type: 'hello', protocol: 1, user: { id: user } });
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
