import { useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { ChatClient, ChatSnapshot, PendingMessage } from '../protocol/client';
import { ChatError, roomLabel, type Message } from '../protocol/types';
import { clock, presenceText, typingText } from './format';
import { btnDanger, btnPrimary, btnQuiet, field } from './ui';

interface Props {
  client: ChatClient;
  snap: ChatSnapshot;
  room: string;
  me: string;
  onLeave: (room: string) => void;
}

export function RoomView({ client, snap, room, me, onLeave }: Props) {
  const r = snap.rooms[room];
  const messages = r?.messages ?? [];
  const pending = snap.pending.filter((p) => p.room === room);
  const isDm = room.startsWith('dm:');
  const title = roomLabel(room, me);
  const other = isDm ? snap.users[title] : undefined;

  const logRef = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const anchor = useRef<{ firstId?: string; height: number; top: number } | null>(null);
  const [olderError, setOlderError] = useState<string | null>(null);

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
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    if (el.scrollTop < 80) loadOlder();
  }

  // Newest at the bottom: follow new messages while the reader is at the bottom;
  // keep the view still when older messages are put on top.
  useLayoutEffect(() => {
    const el = logRef.current;
    if (!el) return;
    const a = anchor.current;
    if (a && messages[0]?.id !== a.firstId) {
      el.scrollTop = el.scrollHeight - a.height + a.top;
      anchor.current = null;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [messages, pending.length]);

  return (
    <section aria-labelledby="room-title" className="flex min-h-0 flex-1 flex-col">
      <div className="flex items-center gap-3 border-b border-slate-200 px-4 py-3">
        <h1 id="room-title" className="min-w-0 truncate text-lg font-semibold text-slate-900">
          {isDm ? title : `#${title}`}
        </h1>
        {isDm && other && (
          <span className="text-sm text-slate-700">
            {presenceText(other.status, other.last_seen)}
          </span>
        )}
        {!isDm && (
          <button
            type="button"
            onClick={() => onLeave(room)}
            className={`${btnQuiet} ml-auto px-2 py-1 text-sm`}
          >
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
            <button
              type="button"
              onClick={loadOlder}
              disabled={r.loadingOlder}
              className="rounded-md px-3 py-1 text-sm text-indigo-800 ring-1 ring-indigo-200 hover:bg-indigo-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600 disabled:opacity-60"
            >
              {r.loadingOlder ? 'Loading older messages…' : 'Load older messages'}
            </button>
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
        {messages.map((m, i) => (
          <MessageRow key={m.id} m={m} mine={m.from === me} continued={i > 0 && messages[i - 1].from === m.from} />
        ))}
        {pending.map((p) => (
          <PendingRow key={p.cid} p={p} me={me} client={client} />
        ))}
      </div>
      <div role="status" aria-live="polite" className="min-h-6 px-4 text-sm italic text-slate-700">
        {typingText(r?.typing ?? [])}
      </div>
      <Composer client={client} room={room} onSent={() => (atBottom.current = true)} />
    </section>
  );
}

function MessageRow({ m, mine, continued }: { m: Message; mine: boolean; continued: boolean }) {
  return (
    <article className={`group rounded-md px-2 py-1 hover:bg-slate-50 ${continued ? '' : 'mt-2'}`} data-seq={m.seq}>
      <div className="flex items-baseline gap-2">
        <span className={`text-sm font-semibold ${mine ? 'text-indigo-800' : 'text-slate-900'}`}>{m.from}</span>
        <time dateTime={m.ts} title={new Date(m.ts).toLocaleString()} className="text-xs text-slate-600">
          {clock(m.ts)}
        </time>
      </div>
      <p className="msg-text text-slate-900">{m.text}</p>
    </article>
  );
}

function PendingRow({ p, me, client }: { p: PendingMessage; me: string; client: ChatClient }) {
  const failed = p.status === 'failed';
  return (
    <article className={`mt-2 rounded-md px-2 py-1 ${failed ? 'bg-red-50 ring-1 ring-red-200' : 'opacity-70'}`} aria-busy={!failed}>
      <div className="flex items-baseline gap-2">
        <span className="text-sm font-semibold text-indigo-800">{me}</span>
        <span className="text-xs text-slate-700">{failed ? 'Not sent' : 'Sending…'}</span>
      </div>
      <p className="msg-text text-slate-900">{p.text}</p>
      {failed && (
        <div className="mt-1 flex flex-wrap items-center gap-2 text-sm">
          <span className="text-red-800">{p.error}</span>
          <button
            type="button"
            onClick={() => client.retry(p.cid)}
            className={`${btnDanger} px-2 py-0.5`}
          >
            Retry
          </button>
          <button
            type="button"
            onClick={() => client.discard(p.cid)}
            className={`${btnQuiet} px-2 py-0.5`}
          >
            Discard
          </button>
        </div>
      )}
    </article>
  );
}

function Composer({ client, room, onSent }: { client: ChatClient; room: string; onSent: () => void }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);

  function send(ev?: FormEvent) {
    ev?.preventDefault();
    if (text.trim() === '') return;
    try {
      client.send(room, text);
      setText('');
      setError(null);
      onSent();
    } catch (e) {
      setError(e instanceof ChatError ? e.message : 'Could not send the message.');
    }
  }

  function onKeyDown(ev: KeyboardEvent<HTMLTextAreaElement>) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.nativeEvent.isComposing) {
      ev.preventDefault();
      send();
    }
  }

  return (
    <form onSubmit={send} className="border-t border-slate-200 bg-slate-50 px-3 py-3 sm:px-4">
      <div className="flex items-end gap-2">
        <textarea
          aria-label="Message"
          rows={1}
          value={text}
          placeholder="Write a message…"
          title="Enter sends, Shift+Enter adds a line"
          onChange={(e) => {
            setText(e.target.value);
            if (e.target.value.trim() === '') client.stopTyping(room);
            else client.typing(room);
          }}
          onKeyDown={onKeyDown}
          onBlur={() => client.stopTyping(room)}
          aria-describedby={error ? 'composer-error' : undefined}
          className={`${field} max-h-40 min-h-10 min-w-0 flex-1 resize-y px-3 py-2`}
        />
        <button
          type="submit"
          className={`${btnPrimary} px-4 py-2`}
        >
          Send
        </button>
      </div>
      {error && (
        <p id="composer-error" className="mt-1 text-sm text-red-800">
          {error}
        </p>
      )}
    </form>
  );
}
