import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { ChatClient, ChatSnapshot, PendingMessage } from '../protocol/client';
import { ChatError, roomLabel, type Message } from '../protocol/types';
import { Composer, type ComposerHandle } from './Composer';
import { Dialog } from './Dialog';
import { presenceText, receipt as readReceipt, typingText } from './format';
import { MessageItem, messageDomId, PendingItem } from './MessageItem';
import { MoreButton } from './MoreButton';
import { btnDanger, btnQuiet } from './ui';

interface Props {
  client: ChatClient;
  snap: ChatSnapshot;
  room: string;
  me: string;
  /** Admins may delete anyone's messages in public rooms. */
  admin: boolean;
  /** The seq of a message to scroll to and highlight once the room is loaded (a chosen search result). */
  reveal?: number;
  /** The message to reveal is being shown. */
  onRevealed: () => void;
  onLeave: (room: string) => void;
}

export function RoomView({ client, snap, room, me, admin, reveal, onRevealed, onLeave }: Props) {
  const r = snap.rooms[room];
  const messages = r?.messages ?? [];
  const pending = snap.pending.filter((p) => p.room === room);
  const kind = r?.kind ?? 'public';
  const title = roomLabel(room, me);
  const other = kind === 'dm' ? snap.users[title] : undefined;

  const logRef = useRef<HTMLDivElement>(null);
  const composer = useRef<ComposerHandle>(null);
  const atBottom = useRef(true);
  const anchor = useRef<{ firstId?: string; height: number; top: number } | null>(null);
  const [olderError, setOlderError] = useState<string | null>(null);
  const [editing, setEditing] = useState<number | null>(null);
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [deleting, setDeleting] = useState<Message | null>(null);
  const [flash, setFlash] = useState<number | null>(null);
  const scrollTo = useRef<number | null>(null);

  const bySeq = useMemo(() => new Map(messages.map((m) => [m.seq, m])), [messages]);
  const quote = (seq: number | undefined) => (seq ? (bySeq.get(seq) ?? r?.quoted[seq]) : undefined);
  const seen = useMemo(
    () => (kind === 'public' || !r ? null : readReceipt(messages, me, r.members, r.readBy)),
    [kind, r, messages, me],
  );
  const people = useMemo(() => {
    const ids = kind === 'public' ? Object.keys(snap.users) : (r?.members ?? []);
    return ids.filter((id) => id !== me);
  }, [kind, snap.users, r?.members, me]);

  // Replies to messages older than those held: fetch what they answer, for the quote.
  useEffect(() => {
    for (const m of messages) if (m.reply_to && !quote(m.reply_to)) client.fetchQuoted(room, m.reply_to);
    for (const p of pending) if (p.replyTo && !quote(p.replyTo)) client.fetchQuoted(room, p.replyTo);
  });

  function setBottom(v: boolean) {
    atBottom.current = v;
    client.setAtBottom(v);
  }

  function loadOlder() {
    const el = logRef.current;
    if (!r || !r.hasOlder || r.loadingOlder || !el) return;
    anchor.current = { firstId: messages[0]?.id, height: el.scrollHeight, top: el.scrollTop };
    setOlderError(null);
    client.loadOlder(room).catch((e: ChatError) => {
      anchor.current = null;
      setOlderError(`Could not load older messages: ${e.message}`);
    });
  }

  function onScroll() {
    const el = logRef.current;
    if (!el) return;
    setBottom(el.scrollHeight - el.scrollTop - el.clientHeight < 48);
    if (el.scrollTop < 80) loadOlder();
  }

  /** Shows the message with seq (a reply's quote was clicked), loading older pages if needed. */
  function showMessage(seq: number) {
    scrollTo.current = seq;
    if (bySeq.has(seq)) {
      revealPending();
      return;
    }
    client.loadUntil(room, seq).then(
      (found) => {
        if (!found) {
          scrollTo.current = null;
          setOlderError('That message is no longer available.');
        }
      },
      (e: ChatError) => setOlderError(`Could not load older messages: ${e.message}`),
    );
  }

  function revealPending() {
    const seq = scrollTo.current;
    if (seq === null) return;
    const el = document.getElementById(messageDomId(seq));
    if (!el) return;
    scrollTo.current = null;
    anchor.current = null;
    el.scrollIntoView({ block: 'center' });
    el.focus({ preventScroll: true });
    setFlash(seq);
    setTimeout(() => setFlash((f) => (f === seq ? null : f)), 1500);
  }

  // A search result was picked: show it once the room's newest page is in.
  const loaded = !!r?.loaded;
  useEffect(() => {
    if (reveal === undefined || !loaded) return;
    showMessage(reveal);
    onRevealed();
  }, [reveal, loaded]);

  // Newest at the bottom: follow new messages while the reader is at the bottom;
  // keep the view still when older messages are put on top.
  useLayoutEffect(() => {
    const el = logRef.current;
    if (!el) return;
    const a = anchor.current;
    if (scrollTo.current !== null) {
      revealPending();
    } else if (a && messages[0]?.id !== a.firstId) {
      el.scrollTop = el.scrollHeight - a.height + a.top;
      anchor.current = null;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [messages, pending.length]);

  // The "New messages" divider goes before the first unread message from someone else.
  const newAfter = r?.newAfter;
  const firstNew = newAfter === undefined ? -1 : messages.findIndex((m) => m.seq > newAfter && m.from !== me);
  const canDelete = (m: Message) => m.from === me || (admin && kind === 'public');
  const item = (m: Message, i: number, list: Message[]) => (
    <MessageItem
      key={m.id}
      client={client}
      m={m}
      me={me}
      continued={i > 0 && list[i - 1].from === m.from && !list[i - 1].deleted}
      canDelete={canDelete(m)}
      editing={editing === m.seq}
      quoted={quote(m.reply_to)}
      receipt={seen?.seq === m.seq ? seen.text : undefined}
      flash={flash === m.seq}
      onEdit={(seq) => {
        setEditing(seq);
        if (seq === null) composer.current?.focus();
      }}
      onReply={(x) => {
        setReplyTo(x);
        composer.current?.focus();
      }}
      onDelete={setDeleting}
      onQuote={showMessage}
    />
  );
  const before = firstNew < 0 ? messages : messages.slice(0, firstNew);
  const after = firstNew < 0 ? [] : messages.slice(firstNew);
  const pendingItems = (p: PendingMessage) => (
    <PendingItem key={p.cid} p={p} me={me} client={client} quoted={quote(p.replyTo)} onQuote={showMessage} />
  );

  return (
    <section aria-labelledby="room-title" className="flex min-h-0 flex-1 flex-col">
      <div className="flex items-center gap-3 border-b border-slate-200 px-4 py-3">
        <h1 id="room-title" className="min-w-0 truncate text-lg font-semibold text-slate-900">
          {kind === 'public' ? `#${title}` : title}
        </h1>
        {other && <span className="text-sm text-slate-700">{presenceText(other.status, other.last_seen)}</span>}
        {kind === 'group' && <span className="text-sm text-slate-700">{r?.members.length} members</span>}
        {kind === 'public' && (
          <button type="button" onClick={() => onLeave(room)} className={`${btnQuiet} ml-auto px-2 py-1 text-sm`}>
            Leave room
          </button>
        )}
      </div>
      {r?.error && (
        <p className="mx-4 mt-3 rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 ring-1 ring-red-200">
          Cannot open this room: {r.error}
        </p>
      )}
      <div
        ref={logRef}
        role="log"
        aria-label="Messages"
        tabIndex={0}
        onScroll={onScroll}
        className="min-h-0 flex-1 overflow-y-auto px-3 py-3 focus:outline-none focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-indigo-600 sm:px-4"
      >
        {r?.hasOlder && (
          <div className="mb-2 text-center">
            <MoreButton loading={r.loadingOlder} label="Load older messages" loadingLabel="Loading older messages…" onClick={loadOlder} />
          </div>
        )}
        {olderError && <p className="mb-2 text-center text-sm text-red-800">{olderError}</p>}
        {r?.loaded && !r.hasOlder && messages.length > 0 && (
          <p className="mb-3 text-center text-xs text-slate-600">Beginning of the conversation</p>
        )}
        {r && !r.loaded && !r.error && messages.length === 0 && <p className="text-center text-sm text-slate-600">Loading messages…</p>}
        {r?.loaded && messages.length === 0 && pending.length === 0 && (
          <p className="text-center text-sm text-slate-600">No messages yet. Say hello!</p>
        )}
        <ol className="list-none">
          {before.map((m, i) => item(m, i, before))}
          {after.length === 0 && pending.map(pendingItems)}
        </ol>
        {after.length > 0 && (
          <>
            <div role="separator" aria-label="New messages" className="my-2 flex items-center gap-2 text-xs font-semibold text-red-800">
              <span aria-hidden="true" className="h-px flex-1 bg-red-300" />
              New messages
              <span aria-hidden="true" className="h-px flex-1 bg-red-300" />
            </div>
            <ol className="list-none">
              {after.map((m, i) => item(m, i, after))}
              {pending.map(pendingItems)}
            </ol>
          </>
        )}
      </div>
      <div role="status" aria-live="polite" className="min-h-6 px-4 text-sm italic text-slate-700">
        {typingText(r?.typing ?? [])}
      </div>
      <Composer
        ref={composer}
        client={client}
        room={room}
        me={me}
        people={people}
        replyTo={replyTo}
        onCancelReply={() => setReplyTo(null)}
        onSent={() => setBottom(true)}
      />
      {deleting && (
        <DeleteDialog
          onCancel={() => setDeleting(null)}
          onDelete={() => client.deleteMessage(deleting.room, deleting.seq).then(() => setDeleting(null))}
        />
      )}
    </section>
  );
}

function DeleteDialog({ onCancel, onDelete }: { onCancel: () => void; onDelete: () => Promise<void> }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title="Delete message?" onClose={onCancel}>
      <p className="mt-2 text-sm text-slate-700">It disappears for everyone, and its text cannot be brought back.</p>
      {error && <p className="mt-2 text-sm text-red-800">{error}</p>}
      <div className="mt-4 flex justify-end gap-2">
        <button type="button" autoFocus onClick={onCancel} className={`${btnQuiet} px-3 py-1.5`}>
          Cancel
        </button>
        <button
          type="button"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            setError(null);
            onDelete().catch((e: unknown) => {
              setBusy(false);
              setError(e instanceof ChatError ? e.message : 'Could not delete the message.');
            });
          }}
          className={`${btnDanger} px-3 py-1.5`}
        >
          Delete
        </button>
      </div>
    </Dialog>
  );
}
