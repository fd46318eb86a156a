// The protocol client: one WebSocket to /ws, speaking the chat contract.
//
// It is plain TypeScript (no React) so that Vitest can drive it with a fake
// WebSocket. It owns the chat state the UI renders: rooms and their messages
// (with edits, deletes and reactions), pending own messages, unread and
// mention counts, read positions, typing users, presence, connection status.
// React reads it through subscribe/getSnapshot (useSyncExternalStore).

import {
  ChatError,
  isPrivateRoom,
  roomKind,
  roomMembers,
  type Message,
  type PendingStatus,
  type Reply,
  type RoomInfo,
  type RoomKind,
  type RoomPage,
  type ServerFrame,
  type User,
} from './types';
import { UnreadCounter } from './unread';

export type { PendingStatus };

export type ConnStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** The part of the browser WebSocket the client uses. */
export interface WebSocketLike {
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

export interface PendingMessage {
  cid: string;
  room: string;
  text: string;
  ts: string;
  status: PendingStatus;
  error?: string;
  /** Seq of the message it answers. */
  replyTo?: number;
}

export interface RoomState {
  id: string;
  kind: RoomKind;
  /** DM and group rooms: the members, sorted; [] for public rooms. */
  members: string[];
  /** Stored messages, ascending seq, no duplicates, each in its latest state. */
  messages: Message[];
  /** Highest seq seen. */
  lastSeq: number;
  /** Highest seq the server listed (GET /api/rooms), perhaps not held. */
  lastKnownSeq: number;
  /** Highest rev received in order (events and join replies): since_rev of the next resume. */
  lastRev: number;
  /** Older messages exist on the server (from join/history `has_more`). */
  hasOlder: boolean;
  /** The first join reply arrived. */
  loaded: boolean;
  /** Subscribed: joined again (with `since`) after every reconnect. */
  joined: boolean;
  loadingOlder: boolean;
  /** Messages from others after the read position, not deleted. */
  unread: number;
  /** Those of them that mention the signed-in user. */
  mentions: number;
  /** The signed-in user's read position. */
  readSeq: number;
  /** Read positions of the other members (DM and group rooms), from GET /api/rooms and `read` events. */
  readBy: Record<string, number>;
  /** Where the "New messages" divider goes: after this seq (undefined: none). */
  newAfter?: number;
  /** Messages answered by replies but older than those held, by seq. */
  quoted: Record<number, Message>;
  /** Users typing in this room now, in the order they started. */
  typing: string[];
  error?: string;
  /** From GET /api/rooms. */
  lastTs?: string;
}

export interface ChatSnapshot {
  status: ConnStatus;
  /** Protocol version of the server (from hello); 0 before the first hello. */
  protocol: number;
  me?: string;
  activeRoom?: string;
  rooms: Record<string, RoomState>;
  pending: PendingMessage[];
  users: Record<string, User>;
}

/** Why a message is worth a notification: it mentions the user, or is a DM or group DM. */
export type NotifyReason = 'mention' | 'direct';

export interface ChatClientOptions {
  url: string;
  createSocket?: WebSocketFactory;
  /** First reconnect delay cap (ms); doubles per failed attempt up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
  /** Reply timeout (ms) for commands with an id. */
  requestTimeoutMs?: number;
  /** Asked before each reconnect; false stops the client (e.g. the session ended). */
  beforeReconnect?: () => Promise<boolean>;
  /** Called after every `hello` (first connect and each reconnect). */
  onHello?: (user: string, reconnect: boolean) => void;
  /** Called when the client stops for good because beforeReconnect said so. */
  onSessionEnded?: () => void;
  /** A message from someone else that mentions the user, or in one of their DMs (once per message). */
  onNotify?: (message: Message, reason: NotifyReason) => void;
  /** The unread counts of GET /api/rooms no longer hold: list the rooms again (addRooms). */
  onCountsStale?: () => void;
}

export const TYPING_REPEAT_MS = 3000;
export const TYPING_EXPIRY_MS = 6000;
export const TYPING_IDLE_MS = 4000;
export const MAX_FRAME_BYTES = 16 * 1024;
export const MAX_TEXT_CHARS = 4000;

const OPEN = 1;
const NOTIFIED_MEMORY = 500;

type Source = 'event' | 'catchup' | 'page' | 'history' | 'reply';

interface InFlight {
  resolve: (data: any) => void;
  reject: (err: ChatError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Splits one WebSocket text frame into the JSON objects it holds. */
export function splitFrame(data: string): ServerFrame[] {
  const out: ServerFrame[] = [];
  for (const line of data.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as ServerFrame);
    } catch {
      // A malformed line is skipped; the rest of the frame still counts.
    }
  }
  return out;
}

/** Reconnect delay for the given attempt (0-based): exponential backoff with "equal jitter". */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + random() * (cap / 2));
}

let cidCounter = 0;
function newCid(): string {
  cidCounter += 1;
  const rnd = Math.random().toString(36).slice(2, 10);
  return `c-${Date.now().toString(36)}-${rnd}-${cidCounter}`;
}

function textChars(s: string): number {
  return Array.from(s).length;
}

/** The text of a send or edit, trimmed; throws when empty or too long. */
function checkedText(raw: string): string {
  const text = raw.trim();
  if (text === '') throw new ChatError('bad_request', 'message is empty');
  if (textChars(text) > MAX_TEXT_CHARS) throw new ChatError('too_large', `message is longer than ${MAX_TEXT_CHARS} characters`);
  return text;
}

/** Whether next is a later state of a message than held (a rev names one state). */
function isNewer(next: Message, held: Message): boolean {
  return (next.rev ?? 0) > (held.rev ?? 0);
}

function maxRev(msgs: Message[], from: number): number {
  let rev = from;
  for (const m of msgs) if (typeof m?.rev === 'number' && m.rev > rev) rev = m.rev;
  return rev;
}

export class ChatClient {
  private opts: Required<Omit<ChatClientOptions, 'beforeReconnect' | 'onHello' | 'onSessionEnded' | 'onNotify' | 'onCountsStale'>> &
    Pick<ChatClientOptions, 'beforeReconnect' | 'onHello' | 'onSessionEnded' | 'onNotify' | 'onCountsStale'>;
  private ws: WebSocketLike | null = null;
  private helloSeen = false;
  private everConnected = false;
  private stopped = true;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private nextId = 1;
  private inFlight = new Map<number, InFlight>();
  private listeners = new Set<() => void>();
  private snapshot: ChatSnapshot | null = null;

  private status: ConnStatus = 'closed';
  private protocol = 0;
  private me: string | undefined;
  private activeRoom: string | undefined;
  private rooms = new Map<string, RoomState>();
  private seenIds = new Map<string, Set<string>>();
  private seenCids = new Map<string, Set<string>>();
  private counters = new Map<string, UnreadCounter>();
  private pending: PendingMessage[] = [];
  private users = new Map<string, User>();
  private typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private typingSentAt = new Map<string, number>();
  private typingIdle = new Map<string, ReturnType<typeof setTimeout>>();
  // Reading: the page is visible and the open room scrolled to its end.
  private pageVisible = true;
  private atBottom = true;
  private roomsListed = false;
  private readAcked = new Map<string, number>();
  private readInFlight = new Set<string>();
  private quoting = new Set<string>();
  private notified = new Set<string>();

  constructor(options: ChatClientOptions) {
    this.opts = {
      createSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
      baseDelayMs: 500,
      maxDelayMs: 8000,
      random: Math.random,
      requestTimeoutMs: 15000,
      ...options,
    };
  }

  // ---- store interface -------------------------------------------------

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getSnapshot = (): ChatSnapshot => {
    if (!this.snapshot) {
      this.snapshot = {
        status: this.status,
        protocol: this.protocol,
        me: this.me,
        activeRoom: this.activeRoom,
        rooms: Object.fromEntries(this.rooms),
        pending: this.pending,
        users: Object.fromEntries(this.users),
      };
    }
    return this.snapshot;
  };

  private changed(): void {
    this.snapshot = null;
    for (const fn of this.listeners) fn();
  }

  // ---- connection ------------------------------------------------------

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Closes the connection for good (sign-out). */
  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close(1000, 'bye');
    }
    this.connectionLost();
    this.status = 'closed';
    this.changed();
  }

  private connect(): void {
    this.status = this.everConnected || this.attempt > 0 ? 'reconnecting' : 'connecting';
    this.changed();
    let ws: WebSocketLike;
    try {
      ws = this.opts.createSocket(this.opts.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.helloSeen = false;
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      if (typeof ev.data !== 'string') return;
      for (const frame of splitFrame(ev.data)) this.handle(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.connectionLost();
      if (this.stopped) {
        this.status = 'closed';
        this.changed();
        return;
      }
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private scheduleReconnect(): void {
    this.status = 'reconnecting';
    this.changed();
    const delay = backoffDelay(this.attempt, this.opts.baseDelayMs, this.opts.maxDelayMs, this.opts.random);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.reconnect();
    }, delay);
  }

  private async reconnect(): Promise<void> {
    if (this.stopped) return;
    if (this.opts.beforeReconnect) {
      let ok = true;
      try {
        ok = await this.opts.beforeReconnect();
      } catch {
        ok = true; // unknown: keep trying
      }
      if (this.stopped) return;
      if (!ok) {
        this.stop();
        this.opts.onSessionEnded?.();
        return;
      }
    }
    this.connect();
  }

  /** Everything that ends with a connection: replies never come, typing state is stale. */
  private connectionLost(): void {
    this.helloSeen = false;
    for (const [, f] of this.inFlight) {
      clearTimeout(f.timer);
      f.reject(new ChatError('disconnected', 'connection lost'));
    }
    this.inFlight.clear();
    for (const t of this.typingTimers.values()) clearTimeout(t);
    this.typingTimers.clear();
    for (const t of this.typingIdle.values()) clearTimeout(t);
    this.typingIdle.clear();
    this.typingSentAt.clear();
    for (const [id, r] of this.rooms) {
      if (r.typing.length) this.rooms.set(id, { ...r, typing: [] });
    }
  }

  private isOpen(): boolean {
    return !!this.ws && this.helloSeen && this.ws.readyState === OPEN;
  }

  private write(cmd: Record<string, unknown>): void {
    const frame = JSON.stringify(cmd);
    if (new TextEncoder().encode(frame).length > MAX_FRAME_BYTES) {
      throw new ChatError('too_large', 'message too large');
    }
    if (!this.ws || this.ws.readyState !== OPEN) throw new ChatError('disconnected', 'not connected');
    this.ws.send(frame);
  }

  /** Sends a command with an id and resolves with its reply data. */
  request<T = any>(cmd: Record<string, unknown>): Promise<T> {
    if (!this.isOpen()) return Promise.reject(new ChatError('disconnected', 'not connected'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      try {
        this.write({ ...cmd, id });
      } catch (e) {
        reject(e);
        return;
      }
      const timer = setTimeout(() => {
        if (this.inFlight.delete(id)) reject(new ChatError('unavailable', 'no reply from the server'));
      }, this.opts.requestTimeoutMs);
      this.inFlight.set(id, { resolve, reject, timer });
    });
  }

  // ---- incoming --------------------------------------------------------

  private handle(frame: ServerFrame): void {
    switch (frame.type) {
      case 'hello':
        this.onHello(frame.user.id, frame.protocol);
        break;
      case 'reply':
        this.onReply(frame);
        break;
      case 'message':
        if (frame.message) {
          this.addMessages(frame.message.room, [frame.message], 'event');
          if (isPrivateRoom(frame.message.room)) this.notify(frame.message, 'direct');
        }
        break;
      case 'update':
        if (frame.message) this.applyState(frame.message, true);
        break;
      case 'mention':
        if (frame.message) this.onMention(frame.message);
        break;
      case 'read':
        this.onRead(frame.room, frame.user, frame.seq);
        break;
      case 'typing':
        this.onTyping(frame.room, frame.user, frame.active);
        break;
      case 'presence':
        this.users.set(frame.user, { id: frame.user, status: frame.status, last_seen: frame.last_seen });
        this.changed();
        break;
      default:
        break;
    }
  }

  private onHello(user: string, protocol: number): void {
    const reconnect = this.everConnected;
    this.me = user;
    this.protocol = typeof protocol === 'number' ? protocol : 1;
    this.helloSeen = true;
    this.everConnected = true;
    this.attempt = 0;
    this.status = 'open';
    this.changed();
    // Resume: every subscribed room, and every DM or group room we hold messages of.
    for (const r of this.rooms.values()) {
      if (r.joined) void this.sendJoin(r.id).catch(() => {});
      else if (r.kind !== 'public' && r.lastSeq > 0) void this.sendJoin(r.id, true).catch(() => {});
    }
    for (const p of this.pending) if (p.status === 'sending') this.transmit(p.cid);
    for (const room of this.rooms.keys()) this.flushRead(room);
    this.opts.onHello?.(user, reconnect);
  }

  private onReply(reply: Reply): void {
    const f = this.inFlight.get(reply.re);
    if (!f) return;
    this.inFlight.delete(reply.re);
    clearTimeout(f.timer);
    if (reply.ok) f.resolve(reply.data ?? {});
    else f.reject(new ChatError(reply.error?.code ?? 'internal', reply.error?.message ?? 'request failed'));
  }

  private onTyping(room: string, user: string, active: boolean): void {
    if (user === this.me) return;
    const key = `${room}\u0000${user}`;
    const old = this.typingTimers.get(key);
    if (old) clearTimeout(old);
    this.typingTimers.delete(key);
    if (active) {
      this.typingTimers.set(
        key,
        setTimeout(() => this.clearTyping(room, user), TYPING_EXPIRY_MS),
      );
      const r = this.ensureRoom(room);
      if (!r.typing.includes(user)) this.setRoom(room, { typing: [...r.typing, user] });
      else this.changed();
    } else {
      this.clearTyping(room, user);
    }
  }

  private clearTyping(room: string, user: string): void {
    const key = `${room}\u0000${user}`;
    const t = this.typingTimers.get(key);
    if (t) clearTimeout(t);
    this.typingTimers.delete(key);
    const r = this.rooms.get(room);
    if (r && r.typing.includes(user)) this.setRoom(room, { typing: r.typing.filter((u) => u !== user) });
  }

  /** A message of a public room mentions the user: it counts even in a room not joined. */
  private onMention(m: Message): void {
    if (typeof m.room !== 'string' || typeof m.seq !== 'number') return;
    this.ensureRoom(m.room);
    const held = this.findHeld(m.room, m.seq);
    if (!held) {
      this.counter(m.room).change(undefined, m);
      this.syncCounts(m.room);
    }
    this.notify(m, 'mention');
  }

  private onRead(room: string, user: string, seq: number): void {
    if (typeof room !== 'string' || typeof user !== 'string' || typeof seq !== 'number') return;
    if (user === this.me) {
      this.readAcked.set(room, Math.max(this.readAcked.get(room) ?? 0, seq));
      this.advanceRead(room, seq);
      return;
    }
    if (!isPrivateRoom(room)) return;
    const r = this.ensureRoom(room);
    const readBy = this.mergeReadBy(r.readBy, { [user]: seq });
    if (readBy !== r.readBy) this.setRoom(room, { readBy });
  }

  /**
   * Other members' read positions moved to those of reads where ahead (never
   * back: what arrives may be older than what is held); readBy itself when
   * none moved.
   */
  private mergeReadBy(readBy: Record<string, number>, reads: Record<string, unknown> | undefined): Record<string, number> {
    let merged = readBy;
    if (!reads || typeof reads !== 'object') return merged;
    for (const [user, seq] of Object.entries(reads)) {
      if (user === this.me || typeof seq !== 'number' || seq <= (merged[user] ?? 0)) continue;
      if (merged === readBy) merged = { ...readBy };
      merged[user] = seq;
    }
    return merged;
  }

  private notify(m: Message, reason: NotifyReason): void {
    if (!this.opts.onNotify || m.from === this.me || m.deleted || this.notified.has(m.id)) return;
    this.notified.add(m.id);
    if (this.notified.size > NOTIFIED_MEMORY) this.notified.delete(this.notified.values().next().value as string);
    this.opts.onNotify(m, reason);
  }

  // ---- room state ------------------------------------------------------

  private ensureRoom(id: string): RoomState {
    let r = this.rooms.get(id);
    if (!r) {
      r = {
        id,
        kind: roomKind(id),
        members: roomMembers(id),
        messages: [],
        lastSeq: 0,
        lastKnownSeq: 0,
        lastRev: 0,
        hasOlder: false,
        loaded: false,
        joined: false,
        loadingOlder: false,
        unread: 0,
        mentions: 0,
        readSeq: 0,
        readBy: {},
        quoted: {},
        typing: [],
      };
      this.rooms.set(id, r);
      this.seenIds.set(id, new Set());
      this.seenCids.set(id, new Set());
      this.counters.set(id, new UnreadCounter(() => this.me));
    }
    return r;
  }

  private counter(room: string): UnreadCounter {
    this.ensureRoom(room);
    return this.counters.get(room)!;
  }

  private setRoom(id: string, patch: Partial<RoomState>): RoomState {
    const r = { ...this.ensureRoom(id), ...patch };
    this.rooms.set(id, r);
    this.changed();
    return r;
  }

  /** Copies the counter's numbers into the room's state. */
  private syncCounts(room: string): void {
    const c = this.counter(room);
    const { unread, mentions } = c.counts();
    const r = this.ensureRoom(room);
    if (r.unread === unread && r.mentions === mentions && r.readSeq === c.readSeq) return;
    this.setRoom(room, { unread, mentions, readSeq: c.readSeq });
  }

  private findHeld(room: string, seq: number): Message | undefined {
    const msgs = this.rooms.get(room)?.messages;
    if (!msgs) return undefined;
    let lo = 0;
    let hi = msgs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (msgs[mid].seq === seq) return msgs[mid];
      if (msgs[mid].seq < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** The message of room with seq: held, or fetched for a reply's quote. */
  message(room: string, seq: number): Message | undefined {
    return this.findHeld(room, seq) ?? this.rooms.get(room)?.quoted[seq];
  }

  /**
   * Merges stored messages into a room: skips any already held (same id, or
   * same sender and cid) unless this is a later state of it, keeps seq order,
   * confirms own pending messages, ends the sender's typing, counts unread
   * ones, and marks them read when the room is open and seen. Returns how many
   * were new.
   */
  private addMessages(roomId: string, msgs: Message[], source: Source): number {
    const r = this.ensureRoom(roomId);
    const ids = this.seenIds.get(roomId)!;
    const cids = this.seenCids.get(roomId)!;
    const counter = this.counter(roomId);
    const fresh: Message[] = [];
    const later: Message[] = [];
    for (const m of msgs) {
      if (!m || typeof m.id !== 'string' || typeof m.seq !== 'number') continue;
      if (ids.has(m.id)) {
        later.push(m);
        continue;
      }
      const cidKey = m.cid ? `${m.from}\u0000${m.cid}` : '';
      if (cidKey && cids.has(cidKey)) continue;
      ids.add(m.id);
      if (cidKey) cids.add(cidKey);
      fresh.push(m);
    }
    const inOrder = source === 'event' || source === 'catchup' || source === 'page';
    const lastRev = inOrder ? maxRev(msgs, r.lastRev) : r.lastRev;
    for (const m of later) this.applyState(m, inOrder);
    if (fresh.length === 0) {
      if (lastRev !== r.lastRev) this.setRoom(roomId, { lastRev });
      return 0;
    }
    const cur = this.ensureRoom(roomId);
    let messages = cur.messages;
    const last = messages.length ? messages[messages.length - 1].seq : 0;
    if (fresh.every((m) => m.seq > last) && isAscending(fresh)) messages = messages.concat(fresh);
    else messages = messages.concat(fresh).sort((a, b) => a.seq - b.seq);
    const counts = source === 'event' || source === 'catchup' || counter.known;
    const active = roomId === this.activeRoom;
    let newAfter = cur.newAfter;
    let typing = cur.typing;
    for (const m of fresh) {
      if (m.from === this.me) {
        if (m.cid) this.pending = this.pending.filter((p) => !(p.cid === m.cid && p.room === roomId));
      } else if (counts) {
        if (active && !this.seeing() && newAfter === undefined && !m.deleted && m.seq > counter.readSeq) newAfter = counter.readSeq;
        counter.change(undefined, m);
      }
      if (typing.includes(m.from)) {
        const t = this.typingTimers.get(`${roomId}\u0000${m.from}`);
        if (t) clearTimeout(t);
        this.typingTimers.delete(`${roomId}\u0000${m.from}`);
        typing = typing.filter((u) => u !== m.from);
      }
    }
    const lastSeq = Math.max(cur.lastSeq, messages[messages.length - 1].seq);
    const { unread, mentions } = counter.counts();
    this.setRoom(roomId, { messages, lastSeq, lastRev, unread, mentions, readSeq: counter.readSeq, typing, newAfter });
    if (active && this.seeing()) this.markRead(roomId, lastSeq);
    return fresh.length;
  }

  /**
   * Applies the current state of a message (an `update` event, a change of a
   * join reply, the reply of edit, delete or react): replaces the held one
   * unless it is not newer, and keeps counts and quotes in step. inOrder: it
   * came in rev order (events, join replies), so its rev is the room's rev
   * seen so far; replies may overtake events and do not count.
   */
  private applyState(m: Message, inOrder: boolean): void {
    if (!m || typeof m.room !== 'string' || typeof m.seq !== 'number') return;
    const room = m.room;
    const r = this.ensureRoom(room);
    const lastRev = inOrder ? maxRev([m], r.lastRev) : r.lastRev;
    const held = this.findHeld(room, m.seq);
    if (held) {
      if (!isNewer(m, held)) {
        if (lastRev !== r.lastRev) this.setRoom(room, { lastRev });
        return;
      }
      this.counter(room).change(held, m);
      const { unread, mentions } = this.counter(room).counts();
      const messages = r.messages.map((x) => (x.seq === m.seq ? m : x));
      this.setRoom(room, { messages, lastRev, unread, mentions });
      return;
    }
    const quoted = r.quoted[m.seq];
    if (quoted && isNewer(m, quoted)) {
      this.setRoom(room, { quoted: { ...r.quoted, [m.seq]: m }, lastRev });
      return;
    }
    if (lastRev !== r.lastRev) this.setRoom(room, { lastRev });
  }

  /** The changes of a join reply with since_rev, in rev order. */
  private applyChanges(room: string, changes: Message[]): void {
    for (const m of changes) {
      if (!m || m.room !== room || typeof m.seq !== 'number') continue;
      const r = this.ensureRoom(room);
      if (m.seq > r.lastSeq) this.addMessages(room, [m], 'catchup');
      else this.applyState(m, true);
    }
  }

  /** Joins a room: subscribes to it now and after every reconnect. */
  async join(room: string): Promise<void> {
    const r = this.ensureRoom(room);
    if (!r.joined || r.error) this.setRoom(room, { joined: true, error: undefined });
    if (!this.isOpen()) return; // joined on the next hello
    try {
      await this.sendJoin(room);
    } catch (e) {
      if ((e as ChatError).code !== 'disconnected') throw e;
    }
  }

  /**
   * Joins a room: the newest page on first load, else (and for catch-up of a DM
   * known only from its events) everything after the last seq seen, with every
   * change after the last rev seen.
   */
  private async sendJoin(room: string, catchUp = false): Promise<void> {
    const r = this.ensureRoom(room);
    const resume = (r.loaded || catchUp) && r.lastSeq > 0;
    const cmd: Record<string, unknown> = { type: 'join', room };
    if (resume) {
      cmd.since = r.lastSeq;
      if (r.lastRev > 0) cmd.since_rev = r.lastRev;
    }
    let page: RoomPage;
    try {
      page = await this.request<RoomPage>(cmd);
    } catch (e) {
      const err = e as ChatError;
      if (err.code !== 'disconnected') this.setRoom(room, { joined: false, error: err.message });
      throw err;
    }
    const msgs = Array.isArray(page.messages) ? page.messages : [];
    const changes = Array.isArray(page.changes) ? page.changes : [];
    if (!resume) {
      // First load: the newest page. Messages already held from events stay.
      this.addMessages(room, msgs, 'page');
      this.setRoom(room, { loaded: true, hasOlder: !!page.has_more });
      return;
    }
    this.addMessages(room, msgs, 'catchup');
    this.applyChanges(room, changes);
    if ((page.has_more && msgs.length > 0) || (page.changes_more && changes.length > 0)) await this.sendJoin(room, catchUp);
  }

  /** Unsubscribes from a public room. */
  async leave(room: string): Promise<void> {
    const r = this.rooms.get(room);
    if (!r) return;
    this.setRoom(room, { joined: false });
    if (this.isOpen()) await this.request({ type: 'leave', room });
  }

  /** Loads the page of messages before the oldest one held (`history` with `before`). */
  async loadOlder(room: string, limit = 50): Promise<number> {
    const r = this.rooms.get(room);
    if (!r || !r.loaded || !r.hasOlder || r.loadingOlder) return 0;
    const before = r.messages.length ? r.messages[0].seq : r.lastSeq + 1;
    this.setRoom(room, { loadingOlder: true });
    try {
      const page = await this.request<RoomPage>({ type: 'history', room, before, limit });
      const n = this.addMessages(room, page.messages ?? [], 'history');
      this.setRoom(room, { hasOlder: !!page.has_more, loadingOlder: false });
      return n;
    } catch (e) {
      this.setRoom(room, { loadingOlder: false });
      throw e;
    }
  }

  /** Loads older pages until the message with seq is held; false when it cannot be. */
  async loadUntil(room: string, seq: number): Promise<boolean> {
    for (;;) {
      if (this.findHeld(room, seq)) return true;
      const r = this.rooms.get(room);
      if (!r || !r.loaded || !r.hasOlder || (r.messages.length && r.messages[0].seq < seq)) return false;
      if (r.loadingOlder) return false;
      if ((await this.loadOlder(room, 100)) === 0) return !!this.findHeld(room, seq);
    }
  }

  /**
   * Fetches a message older than those held (the one a reply answers) into the
   * room's quotes, once.
   */
  fetchQuoted(room: string, seq: number): void {
    const key = `${room}\u0000${seq}`;
    if (seq <= 0 || this.message(room, seq) || this.quoting.has(key) || !this.isOpen()) return;
    this.quoting.add(key);
    this.request<RoomPage>({ type: 'history', room, before: seq + 1, limit: 1 }).then(
      (page) => {
        const m = page.messages?.find((x) => x.seq === seq);
        if (!m || this.findHeld(room, seq)) return;
        const r = this.ensureRoom(room);
        this.setRoom(room, { quoted: { ...r.quoted, [seq]: m } });
      },
      () => this.quoting.delete(key), // tried again on the next render
    );
  }

  /**
   * Makes a room the one on screen: places the "New messages" divider at the
   * read position, marks what it holds read, and joins it if needed.
   */
  open(room: string | undefined): Promise<void> {
    this.activeRoom = room;
    this.atBottom = true;
    if (!room) {
      this.changed();
      return Promise.resolve();
    }
    const r = this.ensureRoom(room);
    const counter = this.counter(room);
    this.setRoom(room, { newAfter: counter.counts().unread > 0 ? counter.readSeq : undefined });
    if (this.seeing()) this.markRead(room, r.lastSeq);
    if (!r.joined || !r.loaded) return this.join(room);
    return Promise.resolve();
  }

  /** Adds rooms listed by GET /api/rooms (not joined), with their read positions and counts. */
  addRooms(list: RoomInfo[]): void {
    this.roomsListed = true;
    for (const info of list) {
      if (!info || typeof info.id !== 'string') continue;
      const r = this.ensureRoom(info.id);
      const counter = this.counter(info.id);
      const lastKnownSeq = Math.max(r.lastKnownSeq, info.last_seq ?? 0);
      if (typeof info.unread === 'number') {
        counter.setBase(info.last_seq ?? 0, info.read_seq ?? 0, info.unread, info.mentions ?? 0);
        this.readAcked.set(info.id, Math.max(this.readAcked.get(info.id) ?? 0, info.read_seq ?? 0));
      }
      const { unread, mentions } = counter.counts();
      let newAfter = r.newAfter;
      if (info.id === this.activeRoom && newAfter === undefined && unread > 0) newAfter = counter.readSeq;
      this.rooms.set(info.id, {
        ...r,
        kind: info.kind ?? r.kind,
        members: Array.isArray(info.members) ? info.members : r.members,
        lastTs: info.last_ts ?? r.lastTs,
        lastKnownSeq,
        unread,
        mentions,
        readSeq: counter.readSeq,
        readBy: isPrivateRoom(info.id) ? this.mergeReadBy(r.readBy, info.reads) : r.readBy,
        newAfter,
      });
    }
    this.changed();
    const active = this.activeRoom && this.rooms.get(this.activeRoom);
    if (active && this.seeing()) this.markRead(active.id, active.lastSeq);
  }

  setUsers(list: User[]): void {
    this.users = new Map(list.map((u) => [u.id, u]));
    this.changed();
  }

  // ---- reading -----------------------------------------------------------

  private seeing(): boolean {
    return this.pageVisible && this.atBottom && this.activeRoom !== undefined;
  }

  /** The page became visible or hidden: what arrives while hidden stays unread. */
  setPageVisible(visible: boolean): void {
    if (this.pageVisible === visible) return;
    this.pageVisible = visible;
    this.seenNow();
  }

  /** The open room's log is scrolled to its newest message, or away from it. */
  setAtBottom(atBottom: boolean): void {
    if (this.atBottom === atBottom) return;
    this.atBottom = atBottom;
    this.seenNow();
  }

  private seenNow(): void {
    const r = this.activeRoom ? this.rooms.get(this.activeRoom) : undefined;
    if (r && this.seeing()) this.markRead(r.id, r.lastSeq);
  }

  /**
   * The user has seen the room up to seq: moves the read position there (never
   * back) and tells the server (`read`), which tells the user's other tabs.
   */
  markRead(room: string, seq: number): void {
    if (seq <= 0 || !this.rooms.has(room)) return;
    // The read position the server lists places the "New messages" divider; wait for it.
    if (this.protocol >= 2 && !this.roomsListed) return;
    this.advanceRead(room, seq);
    this.flushRead(room);
  }

  private advanceRead(room: string, seq: number): void {
    const counter = this.counter(room);
    if (seq <= counter.readSeq) return;
    if (counter.markRead(seq)) this.opts.onCountsStale?.();
    this.syncCounts(room);
  }

  /** Sends the read position when the server is behind it; one `read` in flight per room. */
  private flushRead(room: string): void {
    if (this.protocol < 2 || !this.isOpen() || this.readInFlight.has(room)) return;
    const want = this.counter(room).readSeq;
    if (want <= (this.readAcked.get(room) ?? 0)) return;
    this.readInFlight.add(room);
    this.request<{ room: string; read_seq: number }>({ type: 'read', room, seq: want }).then(
      (data) => {
        this.readInFlight.delete(room);
        const at = typeof data?.read_seq === 'number' ? data.read_seq : want;
        this.readAcked.set(room, Math.max(this.readAcked.get(room) ?? 0, at, want));
        this.advanceRead(room, at);
        this.flushRead(room);
      },
      (err: ChatError) => {
        this.readInFlight.delete(room);
        // Refused for good (e.g. bad_request): do not repeat it. Otherwise the next read or hello retries.
        if (err.code === 'bad_request' || err.code === 'forbidden' || err.code === 'not_found') {
          this.readAcked.set(room, Math.max(this.readAcked.get(room) ?? 0, want));
        }
      },
    );
  }

  // ---- sending ---------------------------------------------------------

  /** Sends a message, maybe as a reply to the message with seq replyTo; it shows at once as pending. Returns its cid. */
  send(room: string, rawText: string, replyTo?: number): string {
    const text = checkedText(rawText);
    const cid = newCid();
    const p: PendingMessage = { cid, room, text, ts: new Date().toISOString(), status: 'sending' };
    if (replyTo !== undefined && replyTo > 0) p.replyTo = replyTo;
    this.pending = [...this.pending, p];
    this.changed();
    this.stopTyping(room);
    this.transmit(cid);
    return cid;
  }

  /** Sends a failed message again with the same cid. */
  retry(cid: string): void {
    this.updatePending(cid, { status: 'sending', error: undefined });
    this.transmit(cid);
  }

  /** Drops a failed pending message. */
  discard(cid: string): void {
    this.pending = this.pending.filter((p) => p.cid !== cid);
    this.changed();
  }

  private updatePending(cid: string, patch: Partial<PendingMessage>): void {
    this.pending = this.pending.map((p) => (p.cid === cid ? { ...p, ...patch } : p));
    this.changed();
  }

  private transmit(cid: string): void {
    const p = this.pending.find((x) => x.cid === cid);
    if (!p || !this.isOpen()) return; // sent on the next hello
    const cmd: Record<string, unknown> = { type: 'send', room: p.room, text: p.text, cid: p.cid };
    if (p.replyTo) cmd.reply_to = p.replyTo;
    this.request<{ message: Message }>(cmd).then(
      (data) => {
        if (data?.message) this.addMessages(data.message.room, [data.message], 'reply');
        this.pending = this.pending.filter((x) => x.cid !== cid);
        this.changed();
        // A room that could not be opened (a DM whose other user did not exist yet) works now.
        const r = this.rooms.get(p.room);
        if (r?.error && p.room === this.activeRoom) void this.join(p.room).catch(() => {});
      },
      (err: ChatError) => {
        if (err.code === 'disconnected') return; // resent after the reconnect, same cid
        this.updatePending(cid, { status: 'failed', error: err.message || err.code });
      },
    );
  }

  /** Changes the text of an own message (`edit`). */
  async edit(room: string, seq: number, rawText: string): Promise<void> {
    const text = checkedText(rawText);
    const data = await this.request<{ message: Message }>({ type: 'edit', room, seq, text });
    if (data?.message) this.applyState(data.message, false);
  }

  /** Deletes a message (`delete`): the author's own, or as an admin in a public room. */
  async deleteMessage(room: string, seq: number): Promise<void> {
    const data = await this.request<{ message: Message }>({ type: 'delete', room, seq });
    if (data?.message) this.applyState(data.message, false);
  }

  /** Sets (active) or takes back the user's reaction with emoji (`react`). */
  async react(room: string, seq: number, emoji: string, active: boolean): Promise<void> {
    const data = await this.request<{ message: Message }>({ type: 'react', room, seq, emoji, active });
    if (data?.message) this.applyState(data.message, false);
  }

  // ---- typing (outgoing) -------------------------------------------------

  /** The user typed in a room: tells the server at most every 3 s. */
  typing(room: string): void {
    if (!this.isOpen()) return;
    const now = Date.now();
    const last = this.typingSentAt.get(room);
    if (last === undefined || now - last >= TYPING_REPEAT_MS) {
      try {
        this.write({ type: 'typing', room, active: true });
        this.typingSentAt.set(room, now);
      } catch {
        /* not connected */
      }
    }
    const idle = this.typingIdle.get(room);
    if (idle) clearTimeout(idle);
    this.typingIdle.set(
      room,
      setTimeout(() => this.stopTyping(room), TYPING_IDLE_MS),
    );
  }

  /** The user stopped typing (sent, cleared the box, or went idle). */
  stopTyping(room: string): void {
    const idle = this.typingIdle.get(room);
    if (idle) clearTimeout(idle);
    this.typingIdle.delete(room);
    if (!this.typingSentAt.has(room)) return;
    this.typingSentAt.delete(room);
    if (!this.isOpen()) return;
    try {
      this.write({ type: 'typing', room, active: false });
    } catch {
      /* not connected */
    }
  }
}

function isAscending(msgs: Message[]): boolean {
  for (let i = 1; i < msgs.length; i++) if (msgs[i].seq <= msgs[i - 1].seq) return false;
  return true;
}
