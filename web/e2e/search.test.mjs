// Browser end-to-end tests of message search: the header's search box asks
// GET /api/search of the real server, shows the results with the matching
// starts of words marked, finds only what the user may read, and opens the
// room of a chosen result at that message, loading older history as needed.
// Three users (alice, bob, carol) share one server and one browser; the steps
// run in order.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  axeViolations,
  chatFixture,
  countIs,
  eventually,
  hasText,
  inView,
  joinRoom,
  log,
  screenshot,
  send,
  sendOverWire,
  signIn,
  textOf,
} from './harness.mjs';

const PASSWORD = 'correct-horse-battery';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
const DM = 'dm:alice_bob';
const DEPLOYED = 'The deployment finished at noon';
const OLD = 'The zebra crossing report is ready';
// More than one history page (50) and than the first older page (100) after OLD.
const FILLERS = 160;

const searchBox = (p) => p.getByRole('searchbox', { name: 'Search messages' });
const panel = (p) => p.getByRole('region', { name: 'Message search results' });
const results = (p) => p.getByRole('list', { name: 'Search results' });
const result = (p, text) => results(p).getByRole('listitem').filter({ hasText: text });
/** The log's list item of a stored message with text. */
const logged = (p, text) => log(p).locator('li[data-seq]').filter({ hasText: text }).first();

/** Searches for q with Enter and waits for the answer: what the panel's status says. */
async function search(p, q) {
  await searchBox(p).fill(q);
  await searchBox(p).press('Enter');
  return eventually(async () => {
    const alert = panel(p).getByRole('alert');
    if ((await alert.count()) > 0) return `error: ${await textOf(alert)}`;
    const s = await textOf(panel(p).getByRole('status'));
    return s && s !== 'Searching…' ? s : false;
  }, `an answer to the search for ${JSON.stringify(q)}`);
}

/** Searches for q until a result holds text: a message may reach the search index a little after it is sent. */
const searchUntilFound = (p, q, text) =>
  eventually(async () => (await search(p, q)) && (await result(p, text).count()) > 0, `a search for ${JSON.stringify(q)} to find ${JSON.stringify(text)}`, 15000);

describe('message search in the browser', () => {
  const chat = chatFixture();
  const ctx = {};
  const page = {};

  test('alice and bob talk in a DM; carol is in another room', async () => {
    for (const who of ['alice', 'bob', 'carol']) {
      ctx[who] = await chat.browser.newContext({ viewport: DESKTOP });
      page[who] = await ctx[who].newPage();
      await signIn(page[who], chat.base, who, PASSWORD);
    }
    await joinRoom(page.carol, 'general');
    await page.alice.goto(`${chat.base}/dm/bob`);
    await page.alice.getByRole('heading', { name: 'bob' }).waitFor();
    await send(page.alice, DEPLOYED);
    await page.bob.goto(`${chat.base}/dm/alice`);
    await hasText(log(page.bob), DEPLOYED);
    await send(page.bob, 'Great, thanks');
    await hasText(log(page.alice), 'Great, thanks');
  });

  test('alice finds the DM by the start of a word, marked, with room, sender and total', async () => {
    await joinRoom(page.alice, 'general');
    await searchUntilFound(page.alice, 'deplo', DEPLOYED);
    assert.equal(await textOf(panel(page.alice).getByRole('status')), '1 result');
    const hit = result(page.alice, DEPLOYED);
    await countIs(hit, 1);
    // the DM is named by the other user, as the room list names it; then the sender
    const line = await textOf(hit);
    assert.match(line, /^bob\W*alice/);
    assert.deepEqual(await hit.locator('mark').allTextContents(), ['deplo']);
    await screenshot(page.alice, 'search');
    assert.deepEqual(await axeViolations(page.alice), []);
  });

  test('bob finds it too, named after alice; every query word must match', async () => {
    await searchUntilFound(page.bob, 'NOON deploy', DEPLOYED);
    assert.match(await textOf(result(page.bob, DEPLOYED)), /^alice\W*alice/);
    assert.deepEqual(await result(page.bob, DEPLOYED).locator('mark').allTextContents(), ['deploy', 'noon']);
    assert.equal(await search(page.bob, 'deploy midnight'), 'No messages found');
    // a word inside another word does not match
    assert.equal(await search(page.bob, 'ployment'), 'No messages found');
  });

  test('carol may not read the DM: no messages found', async () => {
    assert.equal(await search(page.carol, 'deplo'), 'No messages found');
    await countIs(results(page.carol), 0);
  });

  test('Escape and the close button close the results', async () => {
    await search(page.carol, 'deplo');
    await searchBox(page.carol).press('Escape');
    await countIs(panel(page.carol), 0);
    await search(page.carol, 'deplo');
    await panel(page.carol).getByRole('button', { name: 'Close search results' }).click();
    await countIs(panel(page.carol), 0);
  });

  test('a query without a word is refused with a clear error', async () => {
    assert.equal(await search(page.carol, '?!'), 'error: Search failed: Type a word (letters or digits) to search for.');
  });

  test('choosing a result opens the DM at the message', async () => {
    await searchUntilFound(page.alice, 'deplo', DEPLOYED);
    await result(page.alice, DEPLOYED).getByRole('button').click();
    await page.alice.waitForURL(/\/dm\/bob$/);
    await countIs(panel(page.alice), 0);
    await eventually(() => inView(logged(page.alice, DEPLOYED), log(page.alice)), 'the message to be in view');
  });

  test('a message older than the pages held is loaded and scrolled to', async () => {
    await send(page.alice, OLD);
    await hasText(log(page.bob), OLD);
    const fillers = Array.from({ length: FILLERS }, (_, i) => `filler ${i + 1}`);
    assert.equal(await sendOverWire(page.bob, DM, fillers), fillers.length);
    // a fresh tab holds only the newest page of the DM once it opens it
    const p = await ctx.alice.newPage();
    await p.goto(`${chat.base}/rooms/general`);
    await p.getByRole('heading', { name: '#general' }).waitFor();
    await searchUntilFound(p, 'zebr', OLD);
    await result(p, OLD).getByRole('button').click();
    await p.waitForURL(/\/dm\/bob$/);
    await eventually(() => inView(logged(p, OLD), log(p)), 'the old message to be loaded and in view', 15000);
    assert.ok((await log(p).locator('li[data-seq]').count()) > FILLERS, 'older pages were loaded');
    // the message has the focus, for the keyboard and screen readers
    await eventually(() => logged(p, OLD).evaluate((el) => el === document.activeElement), 'the old message to have the focus');
    // a result in the room already open
    await searchUntilFound(p, 'deplo', DEPLOYED);
    await result(p, DEPLOYED).getByRole('button').click();
    await eventually(() => inView(logged(p, DEPLOYED), log(p)), 'the message of the open room to scroll into view');
    await p.close();
  });

  test('"More results" pages on, newest first, without repeating or skipping a message', async () => {
    await eventually(async () => (await search(page.alice, 'filler')) === `${FILLERS} results`, `all ${FILLERS} fillers to be found`, 15000);
    const texts = () => result(page.alice, 'filler').allTextContents();
    await countIs(result(page.alice, 'filler'), 20);
    const first = await texts();
    await panel(page.alice).getByRole('button', { name: 'More results' }).click();
    await countIs(result(page.alice, 'filler'), 40);
    const both = await texts();
    assert.deepEqual(both.slice(0, 20), first);
    assert.equal(new Set(both).size, 40, 'no result shown twice');
    // the two pages are the newest 40 in the server's order: none skipped
    const one = await page.alice.evaluate(async () => (await (await fetch('/api/search?q=filler&limit=40')).json()).messages.map((m) => m.text));
    assert.deepEqual(both.map((t) => /filler \d+$/.exec(t)?.[0]), one);
    await searchBox(page.alice).press('Escape');
  });

  test('on a phone the search box is in reach and the results are full width', async () => {
    const c = await chat.browser.newContext(PHONE);
    const p = await c.newPage();
    await signIn(p, chat.base, 'alice', PASSWORD);
    await joinRoom(p, 'general');
    const box = await searchBox(p).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390 && box.width >= 200, `the search box lies at ${JSON.stringify(box)}`);
    await searchUntilFound(p, 'zebra report', OLD);
    const list = await panel(p).boundingBox();
    assert.ok(list && list.x <= 1 && list.width >= 388, `the results lie at ${JSON.stringify(list)}`);
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
    await screenshot(p, 'mobile-search');
    assert.deepEqual(await axeViolations(p), []);
    await result(p, OLD).getByRole('button').tap();
    await p.waitForURL(/\/dm\/bob$/);
    await eventually(() => inView(logged(p, OLD), log(p)), 'the old message to be in view on the phone', 15000);
    await c.close();
  });
});
