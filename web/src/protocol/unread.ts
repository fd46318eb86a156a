// Unread and mention counts of one room for the signed-in user.
//
// The server knows them exactly (GET /api/rooms: the read position, and how
// many messages from others after it are unread and mention the user); the
// client keeps them current from there with what it sees live: new messages,
// edits and deletes, and read positions moving (its own `read`, and `read`
// events from the user's other tabs and devices).

import type { Message } from './types';

export interface Counts {
  unread: number;
  mentions: number;
}

/** Whether a message counts as unread for `me` behind read position `readSeq`. */
function counts(m: Message | undefined, me: string, readSeq: number): boolean {
  return !!m && m.from !== me && !m.deleted && m.seq > readSeq;
}

function mentions(m: Message, me: string): boolean {
  return !!m.mentions?.includes(me);
}

export class UnreadCounter {
  /** The user's read position: every message up to it is read. */
  readSeq = 0;
  /** The server told the read position (GET /api/rooms or a read event). */
  known = false;
  /** The server's counts cover the messages up to baseSeq. */
  private baseSeq = 0;
  private baseUnread = 0;
  private baseMentions = 0;
  /** Unread messages after baseSeq seen live: seq → mentions the user. */
  private tracked = new Map<number, boolean>();

  constructor(private readonly me: () => string | undefined) {}

  /** The server's counts, covering the messages up to lastSeq. */
  setBase(lastSeq: number, readSeq: number, unread: number, mentionCount: number): void {
    this.known = true;
    this.readSeq = Math.max(this.readSeq, readSeq);
    this.baseSeq = lastSeq;
    this.baseUnread = Math.max(0, unread);
    this.baseMentions = Math.max(0, mentionCount);
    for (const seq of this.tracked.keys()) if (seq <= lastSeq || seq <= this.readSeq) this.tracked.delete(seq);
  }

  /**
   * A message changed from prev (undefined: not seen before) to next, its
   * current state: a new message from another user counts, a deleted one stops
   * counting, an edit may add or take back a mention.
   */
  change(prev: Message | undefined, next: Message): void {
    const me = this.me();
    if (me === undefined) return;
    if (next.seq > this.baseSeq) {
      if (counts(next, me, this.readSeq)) this.tracked.set(next.seq, mentions(next, me));
      else this.tracked.delete(next.seq);
      return;
    }
    // Covered by the server's counts: adjust them only for a change seen here.
    if (!prev || !counts(prev, me, this.readSeq) || this.readSeq >= this.baseSeq) return;
    const was = mentions(prev, me);
    if (!counts(next, me, this.readSeq)) {
      this.baseUnread = Math.max(0, this.baseUnread - 1);
      if (was) this.baseMentions = Math.max(0, this.baseMentions - 1);
      return;
    }
    const is = mentions(next, me);
    if (is && !was) this.baseMentions += 1;
    if (was && !is) this.baseMentions = Math.max(0, this.baseMentions - 1);
  }

  /**
   * Moves the read position to seq (never back). Returns true when the
   * server's counts no longer hold and must be asked for again (the position
   * moved into the middle of the messages they cover).
   */
  markRead(seq: number): boolean {
    if (seq <= this.readSeq) return false;
    const stale = seq < this.baseSeq && this.baseUnread > 0;
    this.readSeq = seq;
    for (const s of this.tracked.keys()) if (s <= seq) this.tracked.delete(s);
    if (seq >= this.baseSeq) {
      this.baseUnread = 0;
      this.baseMentions = 0;
    }
    return stale;
  }

  counts(): Counts {
    let unread = 0;
    let mentionCount = 0;
    if (this.readSeq < this.baseSeq) {
      unread = this.baseUnread;
      mentionCount = this.baseMentions;
    }
    for (const m of this.tracked.values()) {
      unread += 1;
      if (m) mentionCount += 1;
    }
    return { unread, mentions: mentionCount };
  }
}
