// Wire types of the chat contract (docs: ../../../docs/web.md and the protocol doc).

export interface Message {
  id: string;
  room: string;
  seq: number;
  from: string;
  text: string;
  ts: string;
  cid?: string;
}

export interface WireError {
  code: string;
  message: string;
}

export interface Reply {
  type: 'reply';
  re: number;
  ok: boolean;
  data?: any;
  error?: WireError;
}

export interface HelloEvent {
  type: 'hello';
  protocol: number;
  user: { id: string };
}

export interface MessageEvent {
  type: 'message';
  message: Message;
}

export interface TypingEvent {
  type: 'typing';
  room: string;
  user: string;
  active: boolean;
}

export interface PresenceEvent {
  type: 'presence';
  user: string;
  status: 'online' | 'offline';
  last_seen?: string;
}

export type ServerFrame = Reply | HelloEvent | MessageEvent | TypingEvent | PresenceEvent;

export interface RoomPage {
  room: string;
  messages: Message[];
  has_more: boolean;
}

export interface User {
  id: string;
  status: 'online' | 'offline';
  last_seen?: string;
}

export interface RoomInfo {
  id: string;
  kind: 'public' | 'dm';
  last_seq?: number;
  last_ts?: string;
}

/** An error carrying a contract error code (`bad_request`, `forbidden`, ...). */
export class ChatError extends Error {
  code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = 'ChatError';
  }
}

export const DM_PREFIX = 'dm:';
const ROOM_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
const USER_ID = /^[a-z0-9][a-z0-9.-]{0,31}$/;

export function isValidRoomId(id: string): boolean {
  return ROOM_ID.test(id);
}

export function isValidUserId(id: string): boolean {
  return USER_ID.test(id);
}

/** The DM room id of two users: `dm:` + both ids sorted, joined with `_`. */
export function dmRoomId(a: string, b: string): string {
  const [x, y] = [a, b].sort();
  return `${DM_PREFIX}${x}_${y}`;
}

export function isDmRoom(room: string): boolean {
  return room.startsWith(DM_PREFIX);
}

/** The other user of a DM room, seen from `me`; the room id itself for public rooms. */
export function roomLabel(room: string, me: string | undefined): string {
  if (!isDmRoom(room)) return room;
  const [a, b] = room.slice(DM_PREFIX.length).split('_');
  if (a === me) return b ?? room;
  if (b === me) return a ?? room;
  return room;
}

/** State of an own message not yet confirmed by the server. */
export type PendingStatus = 'sending' | 'failed';
