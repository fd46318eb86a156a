// Wire types of the chat contract (docs: ../../../docs/web.md and the protocol doc).

/** One emoji on a message and who reacted with it (users sorted). */
export interface Reaction {
  emoji: string;
  users: string[];
}

export interface Message {
  id: string;
  room: string;
  seq: number;
  from: string;
  text: string;
  ts: string;
  cid?: string;
  /** Room revision of the message's latest change (send, edit, delete, reactions). */
  rev?: number;
  /** Seq of the earlier message of the room this one answers. */
  reply_to?: number;
  /** Sorted ids of the registered users the text names as @id. */
  mentions?: string[];
  /** Time of the last edit. */
  edited_ts?: string;
  /** Deleted: text is "", mentions and reactions are empty. */
  deleted?: boolean;
  reactions?: Reaction[];
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

/** A message was edited, deleted, or its reactions changed: its current state. */
export interface UpdateEvent {
  type: 'update';
  message: Message;
}

/** A message of a public room mentions the signed-in user. */
export interface MentionEvent {
  type: 'mention';
  message: Message;
}

/** A user's read position in a room advanced to seq. */
export interface ReadEvent {
  type: 'read';
  room: string;
  user: string;
  seq: number;
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

export type ServerFrame =
  | Reply
  | HelloEvent
  | MessageEvent
  | UpdateEvent
  | MentionEvent
  | ReadEvent
  | TypingEvent
  | PresenceEvent;

export interface RoomPage {
  room: string;
  messages: Message[];
  has_more: boolean;
  /** join with since_rev: every message changed after since_rev, in rev order. */
  changes?: Message[];
  changes_more?: boolean;
}

export interface User {
  id: string;
  status: 'online' | 'offline';
  last_seen?: string;
}

export type RoomKind = 'public' | 'dm' | 'group';

export interface RoomInfo {
  id: string;
  kind: RoomKind;
  /** DM and group rooms: the members, sorted. */
  members?: string[];
  last_seq?: number;
  last_ts?: string | null;
  rev?: number;
  /** The caller's read position (0: never read). */
  read_seq?: number;
  /** Messages from other users after read_seq, not deleted. */
  unread?: number;
  /** Those of them that mention the caller. */
  mentions?: number;
  /** DM and group rooms: the other members' read positions (absent: never read). */
  reads?: Record<string, number>;
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
export const GROUP_PREFIX = 'gdm:';
export const MIN_GROUP_MEMBERS = 3;
export const MAX_GROUP_MEMBERS = 8;
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

/**
 * The group DM room id of users (3 to 8 distinct valid ids, in any order):
 * `gdm:` + the ids sorted, joined with `_`; undefined when they do not make one.
 */
export function groupRoomId(users: string[]): string | undefined {
  const ids = [...new Set(users)].sort();
  if (ids.length < MIN_GROUP_MEMBERS || ids.length > MAX_GROUP_MEMBERS || !ids.every(isValidUserId)) return undefined;
  return `${GROUP_PREFIX}${ids.join('_')}`;
}

export function isDmRoom(room: string): boolean {
  return room.startsWith(DM_PREFIX);
}

export function isGroupRoom(room: string): boolean {
  return room.startsWith(GROUP_PREFIX);
}

/** Whether only the room's members may use it: a DM or a group DM. */
export function isPrivateRoom(room: string): boolean {
  return isDmRoom(room) || isGroupRoom(room);
}

export function roomKind(room: string): RoomKind {
  if (isDmRoom(room)) return 'dm';
  if (isGroupRoom(room)) return 'group';
  return 'public';
}

/** The members of a DM or group DM room, from its id; [] for public rooms. */
export function roomMembers(room: string): string[] {
  if (isDmRoom(room)) return room.slice(DM_PREFIX.length).split('_');
  if (isGroupRoom(room)) return room.slice(GROUP_PREFIX.length).split('_');
  return [];
}

/**
 * How a room is named to `me`: a public room by its id, a DM by the other
 * user's id, a group DM by the other members' ids joined with ", ".
 */
export function roomLabel(room: string, me: string | undefined): string {
  if (!isPrivateRoom(room)) return room;
  const members = roomMembers(room);
  if (me === undefined || !members.includes(me)) return room;
  const others = members.filter((m) => m !== me);
  return others.length ? others.join(', ') : room;
}

/** State of an own message not yet confirmed by the server. */
export type PendingStatus = 'sending' | 'failed';
