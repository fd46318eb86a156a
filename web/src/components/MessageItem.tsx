import { useEffect, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import type { ChatClient, PendingMessage } from '../protocol/client';
import { ChatError, type Message } from '../protocol/types';
import { clock, preview } from './format';
import { RichText } from './RichText';
import { btnDanger, btnPrimary, btnQuiet, field } from './ui';

/** The reactions the "Add reaction" menu offers. */
export const REACTIONS: { emoji: string; title: string }[] = [
  { emoji: '👍', title: 'thumbs up' },
  { emoji: '❤️', title: 'heart' },
  { emoji: '😂', title: 'laughing' },
  { emoji: '🎉', title: 'party' },
  { emoji: '😮', title: 'surprised' },
  { emoji: '😢', title: 'sad' },
];

export const messageDomId = (seq: number) => `msg-${seq}`;

const toolButton =
  'flex h-7 min-w-7 items-center justify-center rounded px-1 text-sm text-slate-800 hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600';

interface ItemProps {
  client: ChatClient;
  m: Message;
  me: string;
  /** Same sender as the message before: no header line. */
  continued: boolean;
  canDelete: boolean;
  editing: boolean;
  /** The message it answers, when it answers one and that one is known. */
  quoted?: Message;
  receipt?: string;
  flash: boolean;
  onEdit: (seq: number | null) => void;
  onReply: (m: Message) => void;
  onDelete: (m: Message) => void;
  onQuote: (seq: number) => void;
}

/** One stored message of the log: a list item with its actions. */
export function MessageItem(props: ItemProps) {
  const { client, m, me, continued, canDelete, editing, quoted, receipt, flash, onEdit, onReply, onDelete, onQuote } = props;
  const mine = m.from === me;
  const mentionsMe = !m.deleted && !!m.mentions?.includes(me);
  const [error, setError] = useState<string | null>(null);

  function act(p: Promise<void>) {
    setError(null);
    p.catch((e: unknown) => setError(e instanceof ChatError ? e.message : 'That did not work.'));
  }
  const toggle = (emoji: string) => {
    const on = !!m.reactions?.find((r) => r.emoji === emoji)?.users.includes(me);
    act(client.react(m.room, m.seq, emoji, !on));
  };

  return (
    <li
      id={messageDomId(m.seq)}
      data-seq={m.seq}
      data-mentioned={mentionsMe ? 'true' : undefined}
      tabIndex={-1}
      className={`group relative rounded-md px-2 py-1 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600 ${
        continued && !m.reply_to ? '' : 'mt-2'
      } ${mentionsMe ? 'border-l-4 border-amber-500 bg-amber-50' : 'hover:bg-slate-50'} ${flash ? 'ring-2 ring-indigo-500' : ''}`}
    >
      <Header from={m.from} ts={m.ts} mine={mine} hidden={continued && !m.reply_to && !m.edited_ts}>
        {m.edited_ts && !m.deleted && (
          <span className="text-xs text-slate-600" title={`Edited ${new Date(m.edited_ts).toLocaleString()}`}>
            (edited)
          </span>
        )}
        {mentionsMe && <span className="sr-only">Mentions you</span>}
      </Header>
      {m.reply_to ? <Quote seq={m.reply_to} quoted={quoted} onQuote={onQuote} /> : null}
      {m.deleted ? (
        <p className="text-sm italic text-slate-600">This message was deleted</p>
      ) : editing ? (
        <EditBox client={client} m={m} onDone={() => onEdit(null)} />
      ) : (
        <div className="msg-text text-slate-900">
          <RichText text={m.text} mentions={m.mentions} me={me} />
        </div>
      )}
      {!m.deleted && m.reactions && m.reactions.length > 0 && (
        <div className="mt-1 flex flex-wrap gap-1">
          {m.reactions.map((r) => {
            const on = r.users.includes(me);
            return (
              <button
                key={r.emoji}
                type="button"
                aria-pressed={on}
                title={r.users.join(', ')}
                onClick={() => toggle(r.emoji)}
                className={`rounded-full px-2 py-0.5 text-sm ring-1 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600 ${
                  on ? 'bg-indigo-50 text-indigo-950 ring-indigo-400' : 'bg-white text-slate-800 ring-slate-300 hover:bg-slate-100'
                }`}
              >
                {`${r.emoji} ${r.users.length}`}
              </button>
            );
          })}
        </div>
      )}
      {error && <p className="mt-1 text-sm text-red-800">{error}</p>}
      {receipt && <p className="mt-0.5 text-right text-xs text-slate-600">{receipt}</p>}
      {!m.deleted && !editing && (
        <div
          className="absolute right-1 top-0.5 z-10 flex gap-0.5 rounded-md bg-white p-0.5 opacity-0 shadow-sm ring-1 ring-slate-300 group-hover:opacity-100 group-focus-within:opacity-100 pointer-coarse:hidden pointer-coarse:group-focus-within:flex"
        >
          <button type="button" aria-label="Reply" title="Reply" className={toolButton} onClick={() => onReply(m)}>
            <span aria-hidden="true">↩</span>
          </button>
          <ReactionMenu onPick={toggle} />
          {mine && (
            <button type="button" aria-label="Edit message" title="Edit message" className={toolButton} onClick={() => onEdit(m.seq)}>
              <span aria-hidden="true">✎</span>
            </button>
          )}
          {canDelete && (
            <button type="button" aria-label="Delete message" title="Delete message" className={toolButton} onClick={() => onDelete(m)}>
              <span aria-hidden="true">✕</span>
            </button>
          )}
        </div>
      )}
    </li>
  );
}

function Header({ from, ts, mine, hidden, children }: { from: string; ts: string; mine: boolean; hidden: boolean; children?: ReactNode }) {
  // A continued message keeps its sender for screen readers and list filters, shown only to them.
  return (
    <div className={hidden ? 'sr-only' : 'flex items-baseline gap-2 pr-32'}>
      <span className={`text-sm font-semibold ${mine ? 'text-indigo-800' : 'text-slate-900'}`}>{from}</span>
      <time dateTime={ts} title={new Date(ts).toLocaleString()} className="text-xs text-slate-600">
        {clock(ts)}
      </time>
      {children}
    </div>
  );
}

/** The quote of the message a reply answers; clicking it shows that message. */
function Quote({ seq, quoted, onQuote }: { seq: number; quoted?: Message; onQuote: (seq: number) => void }) {
  const text = !quoted ? 'an earlier message' : quoted.deleted ? 'deleted message' : `${quoted.from}: ${preview(quoted.text)}`;
  return (
    <button
      type="button"
      title="Show the message this answers"
      onClick={() => onQuote(seq)}
      className="my-0.5 block max-w-full truncate rounded border-l-4 border-slate-400 bg-slate-100 px-2 py-0.5 text-left text-sm text-slate-700 hover:bg-slate-200 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600"
    >
      {text}
    </button>
  );
}

/** "Add reaction": a menu of emoji, each a menuitem named by its emoji. */
function ReactionMenu({ onPick }: { onPick: (emoji: string) => void }) {
  const [open, setOpen] = useState<'up' | 'down' | null>(null);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (open) menu.current?.querySelector<HTMLElement>('[role=menuitem]')?.focus();
  }, [open]);

  function close(refocus: boolean) {
    setOpen(null);
    if (refocus) button.current?.focus();
  }

  function onKeyDown(e: KeyboardEvent<HTMLDivElement>) {
    const items = [...(menu.current?.querySelectorAll<HTMLElement>('[role=menuitem]') ?? [])];
    const at = items.indexOf(document.activeElement as HTMLElement);
    const go = (i: number) => items[(i + items.length) % items.length]?.focus();
    switch (e.key) {
      case 'ArrowRight':
      case 'ArrowDown':
        go(at + 1);
        break;
      case 'ArrowLeft':
      case 'ArrowUp':
        go(at - 1);
        break;
      case 'Home':
        go(0);
        break;
      case 'End':
        go(items.length - 1);
        break;
      case 'Escape':
        close(true);
        break;
      case 'Tab':
        close(false);
        return;
      default:
        return;
    }
    e.preventDefault();
    e.stopPropagation();
  }

  return (
    <div className="relative">
      <button
        ref={button}
        type="button"
        aria-label="Add reaction"
        title="Add reaction"
        aria-haspopup="menu"
        aria-expanded={open !== null}
        className={toolButton}
        onClick={() => {
          if (open) return close(false);
          const r = button.current?.getBoundingClientRect();
          setOpen(r && r.top > window.innerHeight / 2 ? 'up' : 'down');
        }}
      >
        <span aria-hidden="true">☺</span>
      </button>
      {open && (
        <div
          ref={menu}
          role="menu"
          aria-label="Reactions"
          onKeyDown={onKeyDown}
          onBlur={(e) => {
            if (!menu.current?.contains(e.relatedTarget as Node | null) && e.relatedTarget !== button.current) close(false);
          }}
          className={`absolute right-0 z-20 flex gap-0.5 rounded-md bg-white p-1 shadow-lg ring-1 ring-slate-300 ${
            open === 'up' ? 'bottom-full mb-1' : 'top-full mt-1'
          }`}
        >
          {REACTIONS.map((r) => (
            <button
              key={r.emoji}
              type="button"
              role="menuitem"
              tabIndex={-1}
              title={r.title}
              onClick={() => {
                close(true);
                onPick(r.emoji);
              }}
              className="h-8 w-8 rounded text-lg hover:bg-slate-100 focus:bg-indigo-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600"
            >
              {r.emoji}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}

/** The text box that replaces a message's text while its author edits it. */
function EditBox({ client, m, onDone }: { client: ChatClient; m: Message; onDone: () => void }) {
  const [text, setText] = useState(m.text);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const box = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
  }, []);

  async function save() {
    if (busy) return;
    if (text.trim() === m.text) return onDone();
    setBusy(true);
    setError(null);
    try {
      await client.edit(m.room, m.seq, text);
      onDone();
    } catch (e) {
      setError(e instanceof ChatError ? e.message : 'Could not save the message.');
      setBusy(false);
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void save();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      onDone();
    }
  }

  return (
    <div className="mt-1">
      <textarea
        ref={box}
        aria-label="Edit message"
        rows={Math.min(8, text.split('\n').length)}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        aria-describedby={error ? `edit-error-${m.seq}` : undefined}
        className={`${field} block w-full resize-y px-2 py-1`}
      />
      <div className="mt-1 flex flex-wrap items-center gap-2 text-sm">
        <button type="button" onClick={() => void save()} disabled={busy} className={`${btnPrimary} px-3 py-1`}>
          Save
        </button>
        <button type="button" onClick={onDone} className={`${btnQuiet} px-3 py-1`}>
          Cancel
        </button>
        <span className="text-xs text-slate-600">Enter saves, Escape cancels</span>
      </div>
      {error && (
        <p id={`edit-error-${m.seq}`} className="mt-1 text-sm text-red-800">
          {error}
        </p>
      )}
    </div>
  );
}

/** An own message on its way, or refused: a list item with Retry and Discard. */
export function PendingItem({ p, me, client, quoted, onQuote }: { p: PendingMessage; me: string; client: ChatClient; quoted?: Message; onQuote: (seq: number) => void }) {
  const failed = p.status === 'failed';
  return (
    <li className={`mt-2 rounded-md px-2 py-1 ${failed ? 'bg-red-50 ring-1 ring-red-200' : 'opacity-70'}`} aria-busy={!failed}>
      <div className="flex items-baseline gap-2">
        <span className="text-sm font-semibold text-indigo-800">{me}</span>
        <span className="text-xs text-slate-700">{failed ? 'Not sent' : 'Sending…'}</span>
      </div>
      {p.replyTo ? <Quote seq={p.replyTo} quoted={quoted} onQuote={onQuote} /> : null}
      <p className="msg-text text-slate-900">{p.text}</p>
      {failed && (
        <div className="mt-1 flex flex-wrap items-center gap-2 text-sm">
          <span className="text-red-800">{p.error}</span>
          <button type="button" onClick={() => client.retry(p.cid)} className={`${btnDanger} px-2 py-0.5`}>
            Retry
          </button>
          <button type="button" onClick={() => client.discard(p.cid)} className={`${btnQuiet} px-2 py-0.5`}>
            Discard
          </button>
        </div>
      )}
    </li>
  );
}
