import { Fragment, type ReactNode } from 'react';
import { parseMessage, type Inline } from './richtext';

/**
 * A message text with its formatting, as React elements: text stays text
 * whatever it holds, and only http(s) links become links.
 */
export function RichText({ text, mentions, me }: { text: string; mentions?: readonly string[]; me?: string }) {
  return (
    <>
      {parseMessage(text, mentions).map((b, i) =>
        b.t === 'code-block' ? (
          <pre key={i} className="my-1 overflow-x-auto rounded-md bg-slate-100 px-3 py-2 text-sm text-slate-900 ring-1 ring-slate-200">
            <code>{b.text}</code>
          </pre>
        ) : (
          <Fragment key={i}>{inlines(b.children, me)}</Fragment>
        ),
      )}
    </>
  );
}

function inlines(nodes: Inline[], me: string | undefined): ReactNode[] {
  return nodes.map((n, i) => {
    switch (n.t) {
      case 'text':
        return n.text;
      case 'bold':
        return <strong key={i}>{inlines(n.children, me)}</strong>;
      case 'italic':
        return <em key={i}>{inlines(n.children, me)}</em>;
      case 'code':
        return (
          <code key={i} className="rounded bg-slate-100 px-1 text-[0.9em] text-slate-900 ring-1 ring-slate-200">
            {n.text}
          </code>
        );
      case 'link':
        return (
          <a key={i} href={n.href} target="_blank" rel="noopener noreferrer" className="text-indigo-800 underline hover:text-indigo-950">
            {n.text}
          </a>
        );
      case 'mention':
        return (
          <span key={i} className={`rounded px-0.5 font-semibold ${n.user === me ? 'bg-amber-200 text-amber-950' : 'text-indigo-800'}`}>
            {n.text}
          </span>
        );
    }
  });
}
