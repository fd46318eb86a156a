import { useImperativeHandle, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent, type Ref } from 'react';
import type { ChatClient } from '../protocol/client';
import { ChatError, type Message } from '../protocol/types';
import { insertMention, mentionAt, mentionCandidates, type MentionQuery } from './mentions';
import { btnPrimary, btnQuiet, field } from './ui';

interface Props {
  client: ChatClient;
  room: string;
  me: string;
  /** Everybody who can be mentioned (user ids). */
  people: string[];
  /** The message being answered, if any. */
  replyTo: Message | null;
  onCancelReply: () => void;
  onSent: () => void;
  ref?: Ref<ComposerHandle>;
}

export interface ComposerHandle {
  focus: () => void;
}

/** The message box: Enter sends, Shift+Enter adds a line, "@" offers people to mention. */
export function Composer({ client, room, me, people, replyTo, onCancelReply, onSent, ref }: Props) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [query, setQuery] = useState<MentionQuery | null>(null);
  const [active, setActive] = useState(0);
  const box = useRef<HTMLTextAreaElement>(null);
  // Where the caret goes once a picked mention is in the text (before the next key arrives).
  const caretAfter = useRef<number | null>(null);
  useImperativeHandle(ref, () => ({ focus: () => box.current?.focus() }), []);
  useLayoutEffect(() => {
    const el = box.current;
    if (caretAfter.current === null || !el) return;
    el.setSelectionRange(caretAfter.current, caretAfter.current);
    caretAfter.current = null;
  }, [text]);

  const options = query ? mentionCandidates(people, query.query, me) : [];
  const listOpen = options.length > 0;
  const activeId = listOpen ? optionId(options[Math.min(active, options.length - 1)]) : undefined;

  function track(value: string, caret: number | null) {
    const q = caret === null ? null : mentionAt(value, caret);
    if (q?.start !== query?.start || q?.query !== query?.query) setActive(0);
    setQuery(q);
  }

  function pick(id: string) {
    if (!query) return;
    const next = insertMention(text, query, id);
    caretAfter.current = next.caret;
    setText(next.text);
    setQuery(null);
  }

  function send(ev?: FormEvent) {
    ev?.preventDefault();
    if (text.trim() === '') return;
    try {
      client.send(room, text, replyTo?.seq);
      setText('');
      setQuery(null);
      setError(null);
      onCancelReply();
      onSent();
    } catch (e) {
      setError(e instanceof ChatError ? e.message : 'Could not send the message.');
    }
  }

  function onKeyDown(ev: KeyboardEvent<HTMLTextAreaElement>) {
    if (ev.nativeEvent.isComposing) return;
    if (listOpen) {
      const n = options.length;
      if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
        ev.preventDefault();
        setActive((a) => (Math.min(a, n - 1) + (ev.key === 'ArrowDown' ? 1 : n - 1)) % n);
        return;
      }
      if ((ev.key === 'Enter' && !ev.shiftKey) || (ev.key === 'Tab' && !ev.shiftKey)) {
        ev.preventDefault();
        pick(options[Math.min(active, n - 1)]);
        return;
      }
      if (ev.key === 'Escape') {
        ev.preventDefault();
        setQuery(null);
        return;
      }
    }
    if (ev.key === 'Escape' && replyTo) {
      ev.preventDefault();
      onCancelReply();
      return;
    }
    if (ev.key === 'Enter' && !ev.shiftKey) {
      ev.preventDefault();
      send();
    }
  }

  return (
    <form onSubmit={send} className="relative border-t border-slate-200 bg-slate-50 px-3 py-3 sm:px-4">
      {replyTo && (
        <div className="mb-2 flex items-center gap-2 rounded-md bg-white px-2 py-1 text-sm text-slate-800 ring-1 ring-slate-300">
          <span className="min-w-0 flex-1 truncate">Replying to {replyTo.from}</span>
          <button type="button" onClick={onCancelReply} className={`${btnQuiet} px-2 py-0.5 text-xs`}>
            Cancel reply
          </button>
        </div>
      )}
      {listOpen && (
        <ul
          id="mention-options"
          role="listbox"
          aria-label="People to mention"
          className="absolute bottom-full left-3 z-20 mb-1 max-h-60 w-64 overflow-y-auto rounded-md bg-white py-1 shadow-lg ring-1 ring-slate-300"
        >
          {options.map((id, i) => (
            <li
              key={id}
              id={optionId(id)}
              role="option"
              aria-selected={i === Math.min(active, options.length - 1)}
              onMouseDown={(e) => {
                e.preventDefault(); // keep the caret in the message box
                pick(id);
              }}
              className="cursor-pointer px-3 py-1 text-sm text-slate-900 aria-selected:bg-indigo-700 aria-selected:text-white"
            >
              {id}
            </li>
          ))}
        </ul>
      )}
      <div className="flex items-end gap-2">
        <textarea
          ref={box}
          aria-label="Message"
          rows={1}
          value={text}
          placeholder="Write a message…"
          title="Enter sends, Shift+Enter adds a line, @ mentions someone"
          aria-autocomplete="list"
          aria-controls={listOpen ? 'mention-options' : undefined}
          aria-activedescendant={activeId}
          onChange={(e) => {
            setText(e.target.value);
            track(e.target.value, e.target.selectionStart);
            if (e.target.value.trim() === '') client.stopTyping(room);
            else client.typing(room);
          }}
          onSelect={(e) => track(e.currentTarget.value, e.currentTarget.selectionStart)}
          onKeyDown={onKeyDown}
          onBlur={() => {
            client.stopTyping(room);
            setQuery(null);
          }}
          aria-describedby={error ? 'composer-error' : undefined}
          className={`${field} max-h-40 min-h-10 min-w-0 flex-1 resize-y px-3 py-2`}
        />
        <button type="submit" className={`${btnPrimary} px-4 py-2`}>
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

function optionId(user: string): string {
  return `mention-option-${user}`;
}
