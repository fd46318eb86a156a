// The protocol client: one WebSocket to /ws, speaking the chat contract.
//
// It is plain TypeScript (no React) so that Vitest can drive it with a fake
// WebSocket. It owns the chat state the UI renders: rooms and their messages,
// pending own messages, typing users, presence, connection status. React reads
// it through subscribe/getSnapshot (useSyncExternalStore).

import {
  ChatError,
  isDmRoom,
  type Message,
  type PendingStatus,
  type Reply,
  type RoomInfo,
  type RoomPage,
  type ServerFrame,
  type User,
} from './types';

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
}

export interface RoomState {
  id: string;
  kind: 'public' | 'dm';
  /** Stored messages, ascending seq, no duplicates. */
  messages: Message[];
  /** Highest seq seen. */
  lastSeq: number;
  /** Older messages exist on the server (from join/history `has_more`). */
  hasOlder: boolean;
  /** The first join reply arrived. */
  loaded: boolean;
  /** Subscribed: joined again (with `since`) after every reconnect. */
  joined: boolean;
  loadingOlder: boolean;
  unread: number;
  /** Users typing in this room now, in the order they started. */
  typing: string[];
  error?: string;
  /** From GET /api/rooms. */
  lastTs?: string;
}

export interface ChatSnapshot {
  status: ConnStatus;
  me?: string;
  activeRoom?: string;
  rooms: Record<string, RoomState>;
  pending: PendingMessage[];
  users: Record<string, User>;
}

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
}

export const TYPING_REPEAT_MS = 3000;
export const TYPING_EXPIRY_MS = 6000;
export const TYPING_IDLE_MS = 4000;
export const MAX_FRAME_BYTES = 16 * 1024;
export const MAX_TEXT_CHARS = 4000;

const OPEN = 1;

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

export class ChatClient {
  private opts: Required<Omit<ChatClientOptions, 'beforeReconnect' | 'onHello' | 'onSessionEnded'>> &
    Pick<ChatClientOptions, 'beforeReconnect' | 'onHello' | 'onSessionEnded'>;
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
  private me: string | undefined;
  private activeRoom: string | undefined;
  private rooms = new Map<string, RoomState>();
  private seenIds = new Map<string, Set<string>>();
  private seenCids = new Map<string, Set<string>>();
  private pending: PendingMessage[] = [];
  private users = new Map<string, User>();
  private typingTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private typingSentAt = new Map<string, number>();
  private typingIdle = new Map<string, ReturnType<typeof setTimeout>>();

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
        this.onHello(frame.user.id);
        break;
      case 'reply':
        this.onReply(frame);
        break;
      case 'message':
        if (frame.message) this.addMessages(frame.message.room, [frame.message], true);
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

  private onHello(user: string): void {
    const reconnect = this.everConnected;
    this.me = user;
    this.helloSeen = true;
    this.everConnected = true;
    this.attempt = 0;
    this.status = 'open';
    this.changed();
    // Resume: every subscribed room, and every DM room we hold messages of.
    for (const r of this.rooms.values()) {
      if (r.joined) void this.sendJoin(r.id).catch(() => {});
      else if (r.kind === 'dm' && r.lastSeq > 0) void this.sendJoin(r.id, true).catch(() => {});
    }
    for (const p of this.pending) if (p.status === 'sending') this.transmit(p.cid);
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

  // ---- room state ------------------------------------------------------

  private ensureRoom(id: string): RoomState {
    let r = this.rooms.get(id);
    if (!r) {
      r = {
        id,
        kind: isDmRoom(id) ? 'dm' : 'public',
        messages: [],
        lastSeq: 0,
        hasOlder: false,
        loaded: false,
        joined: false,
        loadingOlder: false,
        unread: 0,
        typing: [],
      };
      this.rooms.set(id, r);
      this.seenIds.set(id, new Set());
      this.seenCids.set(id, new Set());
    }
    return r;
  }

  private setRoom(id: string, patch: Partial<RoomState>): RoomState {
    const r = { ...this.ensureRoom(id), ...patch };
    this.rooms.set(id, r);
    this.changed();
    return r;
  }

  /**
   * Merges stored messages into a room: skips any already held (same id, or same
   * sender and cid), keeps seq order, confirms own pending messages, ends the
   * sender's typing, and counts unread ones when asked. Returns how many were new.
   */
  private addMessages(roomId: string, msgs: Message[], countUnread: boolean): number {
    const r = this.ensureRoom(roomId);
    const ids = this.seenIds.get(roomId)!;
    const cids = this.seenCids.get(roomId)!;
    const fresh: Message[] = [];
    for (const m of msgs) {
      if (!m || typeof m.id !== 'string' || ids.has(m.id)) continue;
      const cidKey = m.cid ? `${m.from}\u0000${m.cid}` : '';
      if (cidKey && cids.has(cidKey)) continue;
      ids.add(m.id);
      if (cidKey) cids.add(cidKey);
      fresh.push(m);
    }
    if (fresh.length === 0) return 0;
    let messages = r.messages;
    const last = messages.length ? messages[messages.length - 1].seq : 0;
    if (fresh.every((m) => m.seq > last) && isAscending(fresh)) messages = messages.concat(fresh);
    else messages = messages.concat(fresh).sort((a, b) => a.seq - b.seq);
    let unread = r.unread;
    let typing = r.typing;
    for (const m of fresh) {
      if (m.from === this.me) {
        if (m.cid) this.pending = this.pending.filter((p) => !(p.cid === m.cid && p.room === roomId));
      } else if (countUnread && roomId !== this.activeRoom && m.seq > r.lastSeq) {
        unread += 1;
      }
      if (typing.includes(m.from)) {
        const t = this.typingTimers.get(`${roomId}\u0000${m.from}`);
        if (t) clearTimeout(t);
        this.typingTimers.delete(`${roomId}\u0000${m.from}`);
        typing = typing.filter((u) => u !== m.from);
      }
    }
    const lastSeq = Math.max(r.lastSeq, messages[messages.length - 1].seq);
    this.setRoom(roomId, { messages, lastSeq, unread, typing });
    return fresh.length;
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
   * known only from its events) everything after the last seq seen.
   */
  private async sendJoin(room: string, catchUp = false): Promise<void> {
    const r = this.ensureRoom(room);
    const since = (r.loaded || catchUp) && r.lastSeq > 0 ? r.lastSeq : undefined;
    let page: RoomPage;
    try {
      page = await this.request<RoomPage>(since === undefined ? { type: 'join', room } : { type: 'join', room, since });
    } catch (e) {
      const err = e as ChatError;
      if (err.code !== 'disconnected') this.setRoom(room, { joined: false, error: err.message });
      throw err;
    }
    const msgs = page.messages ?? [];
    if (since === undefined) {
      // First load: the newest page. Messages already held from events stay.
      this.addMessages(room, msgs, false);
      this.setRoom(room, { loaded: true, hasOlder: !!page.has_more });
    } else {
      this.addMessages(room, msgs, true);
      if (page.has_more && msgs.length > 0) await this.sendJoin(room, catchUp);
    }
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
      const n = this.addMessages(room, page.messages ?? [], false);
      this.setRoom(room, { hasOlder: !!page.has_more, loadingOlder: false });
      return n;
    } catch (e) {
      this.setRoom(room, { loadingOlder: false });
      throw e;
    }
  }

  /** Makes a room the one on screen: clears its unread count, joins it if needed. */
  open(room: string | undefined): Promise<void> {
    this.activeRoom = room;
    if (!room) {
      this.changed();
      return Promise.resolve();
    }
    const r = this.ensureRoom(room);
    this.setRoom(room, { unread: 0 });
    if (!r.joined || !r.loaded) return this.join(room);
    return Promise.resolve();
  }

  /** Adds rooms listed by GET /api/rooms (not joined). */
  addRooms(list: RoomInfo[]): void {
    for (const info of list) {
      const r = this.ensureRoom(info.id);
      this.rooms.set(info.id, { ...r, kind: info.kind ?? r.kind, lastTs: info.last_ts ?? r.lastTs });
    }
    this.changed();
  }

  setUsers(list: User[]): void {
    this.users = new Map(list.map((u) => [u.id, u]));
    this.changed();
  }

  // ---- sending ---------------------------------------------------------

  /** Sends a message; it shows at once as pending. Returns its cid. */
  send(room: string, rawText: string): string {
    const text = rawText.trim();
    if (text === '') throw new ChatError('bad_request', 'message is empty');
    if (textChars(text) > MAX_TEXT_CHARS) throw new ChatError('too_large', `message is longer than ${MAX_TEXT_CHARS} characters`);
    const cid = newCid();
    this.pending = [...this.pending, { cid, room, text, ts: new Date().toISOString(), status: 'sending' }];
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
    this.request<{ message: Message }>({ type: 'send', room: p.room, text: p.text, cid: p.cid }).then(
      (data) => {
        if (data?.message) this.addMessages(data.message.room, [data.message], false);
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
