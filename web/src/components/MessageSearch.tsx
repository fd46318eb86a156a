import { useEffect, useRef, useState, type KeyboardEvent, type RefObject } from 'react';
import { api } from '../api';
import { ChatError, isPrivateRoom, roomLabel, type Message } from '../protocol/types';
import { MoreButton } from './MoreButton';
import { highlight, nextPage, resultCount, searchWords } from './search';

/** Typing searches after this pause, once the box holds at least MIN_TYPED characters; Enter searches at once. */
const DEBOUNCE_MS = 300;
const MIN_TYPED = 2;
const PAGE = 20;
const MAX_QUERY = 200;

type Results =
  | { status: 'loading' }
  | { status: 'error'; message: string }
  | { status: 'done'; total: number; messages: Message[]; loadingMore: boolean; moreError?: string };

interface Props {
  me: string;
  /** A result was chosen: open its room at the message. */
  onPick: (m: Message) => void;
}

const errorText = (e: unknown) => (e instanceof ChatError ? e.message : 'Something went wrong.');

/** The header's message search: a search box and, under it, the results of the last search. */
export function MessageSearch({ me, onPick }: Props) {
  const [text, setText] = useState('');
  const [shown, setShown] = useState<{ q: string; results: Results } | null>(null);
  const latest = useRef(0); // the number of the newest search; older answers are dropped
  const searched = useRef(''); // the query of the search on screen
  const wrap = useRef<HTMLDivElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const list = useRef<HTMLUListElement>(null);

  function run(q: string) {
    const n = ++latest.current;
    searched.current = q;
    if (searchWords(q).length === 0) {
      setShown({ q, results: { status: 'error', message: 'Type a word (letters or digits) to search for.' } });
      return;
    }
    setShown({ q, results: { status: 'loading' } });
    api.search({ q, limit: PAGE }).then(
      (r) => n === latest.current && setShown({ q, results: { status: 'done', total: r.total, messages: r.messages ?? [], loadingMore: false } }),
      (e: unknown) => n === latest.current && setShown({ q, results: { status: 'error', message: errorText(e) } }),
    );
  }

  function close() {
    latest.current++;
    searched.current = '';
    setShown(null);
  }

  function loadMore() {
    if (!shown || shown.results.status !== 'done' || shown.results.loadingMore) return;
    const { q, results } = shown;
    const n = latest.current;
    const update = (r: Partial<Extract<Results, { status: 'done' }>>) =>
      n === latest.current && setShown((s) => (s && s.results.status === 'done' ? { q: s.q, results: { ...s.results, ...r } } : s));
    update({ loadingMore: true, moreError: undefined });
    api.search({ q, ...nextPage(results.messages, PAGE) }).then(
      (r) => {
        const held = new Set(results.messages.map((m) => m.id));
        const added = (r.messages ?? []).filter((m) => !held.has(m.id));
        const messages = [...results.messages, ...added];
        // Nothing more (messages deleted since the first page): stop offering more.
        update({ messages, total: added.length ? results.total : messages.length, loadingMore: false });
      },
      (e: unknown) => update({ loadingMore: false, moreError: `Could not load more results: ${errorText(e)}` }),
    );
  }

  // Typing searches after a pause; emptying the box closes the results.
  useEffect(() => {
    const q = text.trim();
    if (q === '') {
      if (searched.current) close();
      return;
    }
    if (q.length < MIN_TYPED || q === searched.current) return;
    const t = setTimeout(() => q !== searched.current && run(q), DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [text]);

  // A press outside the search closes the results.
  useEffect(() => {
    if (!shown) return;
    const outside = (e: PointerEvent) => {
      if (wrap.current && !wrap.current.contains(e.target as Node)) close();
    };
    document.addEventListener('pointerdown', outside);
    return () => document.removeEventListener('pointerdown', outside);
  }, [shown !== null]);

  function onKeyDown(e: KeyboardEvent) {
    if (e.key === 'Escape' && shown) {
      e.preventDefault();
      close();
      input.current?.focus();
      return;
    }
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const buttons = Array.from(list.current?.querySelectorAll<HTMLButtonElement>('li > button') ?? []);
    if (buttons.length === 0) return;
    e.preventDefault();
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (at < 0) buttons[e.key === 'ArrowDown' ? 0 : buttons.length - 1].focus();
    else if (e.key === 'ArrowUp' && at === 0) input.current?.focus();
    else buttons[Math.min(buttons.length - 1, at + (e.key === 'ArrowDown' ? 1 : -1))].focus();
  }

  return (
    <div ref={wrap} onKeyDown={onKeyDown} className="order-last w-full sm:relative sm:order-none sm:ml-4 sm:w-auto sm:min-w-0 sm:max-w-md sm:flex-1">
      <form
        role="search"
        aria-label="Message search"
        onSubmit={(e) => {
          e.preventDefault();
          if (text.trim()) run(text.trim());
        }}
      >
        <input
          ref={input}
          type="search"
          aria-label="Search messages"
          aria-controls={shown ? 'search-results' : undefined}
          placeholder="Search messages…"
          maxLength={MAX_QUERY}
          value={text}
          onChange={(e) => setText(e.target.value)}
          className="w-full rounded-md border-0 bg-white px-3 py-1.5 text-sm text-slate-900 placeholder:text-slate-600 focus:outline-none focus:ring-2 focus:ring-white focus:ring-offset-2 focus:ring-offset-indigo-800"
        />
      </form>
      {shown && (
        <SearchResults
          id="search-results"
          me={me}
          q={shown.q}
          results={shown.results}
          listRef={list}
          onClose={close}
          onMore={loadMore}
          onPick={(m) => {
            close();
            onPick(m);
          }}
        />
      )}
    </div>
  );
}

interface ResultsProps {
  id: string;
  me: string;
  q: string;
  results: Results;
  listRef: RefObject<HTMLUListElement | null>;
  onClose: () => void;
  onMore: () => void;
  onPick: (m: Message) => void;
}

/** The panel of results: full width under the header on a phone, under the search box on wider screens. */
function SearchResults({ id, me, q, results, listRef, onClose, onMore, onPick }: ResultsProps) {
  const words = searchWords(q);
  let status = 'Searching…';
  if (results.status === 'done') status = results.total === 0 ? 'No messages found' : resultCount(results.total);
  else if (results.status === 'error') status = '';
  return (
    <section
      id={id}
      aria-label="Message search results"
      className="absolute inset-x-0 top-full z-20 flex max-h-[calc(100dvh-7rem)] flex-col overflow-hidden bg-white text-slate-900 shadow-xl ring-1 ring-slate-300 sm:mt-2 sm:max-h-[70vh] sm:rounded-lg"
    >
      <div className="flex items-center gap-2 border-b border-slate-200 px-3 py-2">
        <p role="status" className="min-w-0 flex-1 truncate text-sm font-semibold text-slate-800">
          {status}
        </p>
        <button
          type="button"
          onClick={onClose}
          aria-label="Close search results"
          className="rounded px-2 py-0.5 text-lg leading-none text-slate-700 hover:bg-slate-100 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-600"
        >
          ×
        </button>
      </div>
      {results.status === 'error' && (
        <p role="alert" className="m-3 rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 ring-1 ring-red-200">
          Search failed: {results.message}
        </p>
      )}
      {results.status === 'done' && results.messages.length > 0 && (
        <div className="min-h-0 overflow-y-auto">
          <ul ref={listRef} aria-label="Search results" className="list-none divide-y divide-slate-100">
            {results.messages.map((m) => (
              <li key={m.id}>
                <button
                  type="button"
                  onClick={() => onPick(m)}
                  className="block w-full px-3 py-2 text-left hover:bg-slate-50 focus:outline-none focus-visible:bg-indigo-50 focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-indigo-600"
                >
                  <span className="flex flex-wrap items-baseline gap-x-2 text-xs text-slate-700">
                    <span className="font-semibold text-indigo-800">{isPrivateRoom(m.room) ? roomLabel(m.room, me) : `#${m.room}`}</span>
                    <span aria-hidden="true">·</span>
                    <span className="font-semibold text-slate-900">{m.from}</span>
                    <span aria-hidden="true">·</span>
                    <time dateTime={m.ts}>{when(m.ts)}</time>
                  </span>
                  <span className="mt-0.5 line-clamp-3 block whitespace-pre-wrap break-words text-sm">
                    {highlight(m.text, words).map((s, i) =>
                      s.match ? (
                        <mark key={i} className="rounded-sm bg-amber-200 text-slate-900">
                          {s.text}
                        </mark>
                      ) : (
                        s.text
                      ),
                    )}
                  </span>
                </button>
              </li>
            ))}
          </ul>
          {results.messages.length < results.total && (
            <div className="border-t border-slate-200 p-2 text-center">
              {results.moreError && <p className="mb-1 text-sm text-red-800">{results.moreError}</p>}
              <MoreButton loading={results.loadingMore} label="More results" loadingLabel="Loading more results…" onClick={onMore} />
            </div>
          )}
        </div>
      )}
    </section>
  );
}

/** Date and time of a result, e.g. "Dec 5, 2026, 2:05 PM". */
function when(ts: string): string {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}
