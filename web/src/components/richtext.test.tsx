import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { parseInline, parseMessage } from './richtext';
import { RichText } from './RichText';

const html = (text: string, mentions?: string[], me?: string) => renderToStaticMarkup(<RichText text={text} mentions={mentions} me={me} />);

describe('parseInline', () => {
  it('leaves plain text alone', () => {
    expect(parseInline('just words, 2 * 3 = 6')).toEqual([{ t: 'text', text: 'just words, 2 * 3 = 6' }]);
  });

  it('finds bold, italic and code', () => {
    expect(parseInline('a **b** _c_ `d`')).toEqual([
      { t: 'text', text: 'a ' },
      { t: 'bold', children: [{ t: 'text', text: 'b' }] },
      { t: 'text', text: ' ' },
      { t: 'italic', children: [{ t: 'text', text: 'c' }] },
      { t: 'text', text: ' ' },
      { t: 'code', text: 'd' },
    ]);
  });

  it('formats inside bold and italic, never inside code', () => {
    expect(parseInline('**_x_**')).toEqual([{ t: 'bold', children: [{ t: 'italic', children: [{ t: 'text', text: 'x' }] }] }]);
    expect(parseInline('`**x** https://a.example`')).toEqual([{ t: 'code', text: '**x** https://a.example' }]);
  });

  it('does not take underscores inside words or loose markers for formatting', () => {
    expect(parseInline('snake_case_name and my_var')).toEqual([{ t: 'text', text: 'snake_case_name and my_var' }]);
    expect(parseInline('** not bold ** and _ not italic _')).toEqual([{ t: 'text', text: '** not bold ** and _ not italic _' }]);
    expect(parseInline('`unclosed and **unclosed')).toEqual([{ t: 'text', text: '`unclosed and **unclosed' }]);
  });

  it('links bare http and https URLs, without the punctuation after them', () => {
    expect(parseInline('see https://example.com/a?b=1#c.')).toEqual([
      { t: 'text', text: 'see ' },
      { t: 'link', href: 'https://example.com/a?b=1#c', text: 'https://example.com/a?b=1#c' },
      { t: 'text', text: '.' },
    ]);
    expect(parseInline('(http://example.com/wiki/A_(b))')).toEqual([
      { t: 'text', text: '(' },
      { t: 'link', href: 'http://example.com/wiki/A_(b)', text: 'http://example.com/wiki/A_(b)' },
      { t: 'text', text: ')' },
    ]);
  });

  it('links nothing but http and https', () => {
    for (const text of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<b>x</b>', 'ftp://example.com', '[x](javascript:alert(1))', 'http://', 'xhttps://example.com']) {
      expect(parseInline(text).some((n) => n.t === 'link'), text).toBe(false);
    }
  });

  it('marks the mentions the server found, and only those', () => {
    expect(parseInline('hi @Bob and @nobody, @carol.', ['bob', 'carol'])).toEqual([
      { t: 'text', text: 'hi ' },
      { t: 'mention', user: 'bob', text: '@Bob' },
      { t: 'text', text: ' and @nobody, ' },
      { t: 'mention', user: 'carol', text: '@carol' },
      { t: 'text', text: '.' },
    ]);
    expect(parseInline('mail bob@example.com', ['bob'])).toEqual([{ t: 'text', text: 'mail bob@example.com' }]);
  });
});

describe('parseMessage', () => {
  it('splits off fenced code blocks, dropping a language name and the line breaks at their edges', () => {
    expect(parseMessage('before\n```ts\nconst a = **1**;\n```\nafter')).toEqual([
      { t: 'text', children: [{ t: 'text', text: 'before' }] },
      { t: 'code-block', text: 'const a = **1**;' },
      { t: 'text', children: [{ t: 'text', text: 'after' }] },
    ]);
    expect(parseMessage('```one line```')).toEqual([{ t: 'code-block', text: 'one line' }]);
    expect(parseMessage('```const x = 1\ny```')).toEqual([{ t: 'code-block', text: 'const x = 1\ny' }]);
  });

  it('leaves an unclosed fence as text', () => {
    expect(parseMessage('```\nnot closed')).toEqual([{ t: 'text', children: [{ t: 'text', text: '```\nnot closed' }] }]);
  });
});

describe('RichText', () => {
  it('renders the formatting as elements', () => {
    expect(html('**b** _i_ `c`')).toBe('<strong>b</strong> <em>i</em> <code class="rounded bg-slate-100 px-1 text-[0.9em] text-slate-900 ring-1 ring-slate-200">c</code>');
    expect(html('```\n<b>x</b>\n```')).toContain('<pre');
    expect(html('```\n<b>x</b>\n```')).toContain('<code>&lt;b&gt;x&lt;/b&gt;</code>');
  });

  it('opens links in a new tab without giving the page a way back', () => {
    const out = html('go to https://example.com/x now');
    expect(out).toContain('<a href="https://example.com/x" target="_blank" rel="noopener noreferrer"');
    expect(out).toContain('>https://example.com/x</a> now');
  });

  it('keeps HTML and script links as text', () => {
    const out = html('<img src=x onerror="alert(1)"><script>alert(2)</script> javascript:alert(3) [x](javascript:alert(4))');
    expect(out).not.toContain('<img');
    expect(out).not.toContain('<script');
    expect(out).not.toContain('<a');
    expect(out).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&lt;script&gt;');
    expect(out).toContain('javascript:alert(3)');
  });

  it('keeps a quote that tries to leave an attribute inside the link', () => {
    const out = html('https://example.com/"onmouseover="alert(1)');
    expect(out).toContain('href="https://example.com/"');
    expect(out).not.toContain(' onmouseover=');
  });

  it('highlights a mention of the user', () => {
    expect(html('hey @alice', ['alice'], 'alice')).toContain('bg-amber-200');
    expect(html('hey @bob', ['bob'], 'alice')).not.toContain('bg-amber-200');
  });
});
