// Browser end-to-end tests: the real chat server binary (with this UI embedded)
// and headless Chromium, two users in two browser contexts. The steps run in
// order and share the server, the browser and the signed-in pages.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ADMIN,
  ADMIN_PASSWORD,
  axeViolations,
  chatFixture,
  countIs,
  cuttableWebSocket,
  eventually,
  hasText,
  joinRoom,
  lacksText,
  log,
  messageBox as message,
  people,
  rooms,
  screenshot,
  send,
  sendOverWire,
  signIn,
  textOf,
} from './harness.mjs';

const PASSWORD = 'correct-horse-battery';
const DESKTOP = { width: 1280, height: 800 };

describe('chat in the browser', () => {
  const chat = chatFixture();
  const ctx = {};
  const page = {};
  // alice's WebSocket goes through a route the test can cut (reconnect step).
  let aliceWs;

  test('sign-in says clearly what is wrong', async () => {
    const c = await chat.browser.newContext({ viewport: DESKTOP });
    const p = await c.newPage();
    await p.goto(chat.base);
    await p.getByRole('button', { name: 'Sign in' }).waitFor();
    await screenshot(p, 'sign-in');
    assert.deepEqual(await axeViolations(p), []);
    await p.getByRole('textbox', { name: 'Username' }).fill('no spaces!');
    await p.getByLabel('Password').fill(PASSWORD);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await hasText(p.getByRole('alert'), 'Invalid username');
    // a known name with the wrong password: the server's 401
    await p.getByRole('textbox', { name: 'Username' }).fill(ADMIN);
    await p.getByLabel('Password').fill('not-the-admin-password');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await hasText(p.getByRole('alert'), 'Wrong password');
    assert.equal(await p.getByRole('button', { name: 'Sign out' }).count(), 0);
    await c.close();
  });

  test('two users sign in and chat in a room', async () => {
    for (const who of ['alice', 'bob']) {
      ctx[who] = await chat.browser.newContext({ viewport: DESKTOP });
      page[who] = await ctx[who].newPage();
    }
    aliceWs = await cuttableWebSocket(page.alice);
    await signIn(page.alice, chat.base, 'Alice', PASSWORD); // registers; ids are lowercase
    await signIn(page.bob, chat.base, 'bob', PASSWORD);
    await hasText(page.alice.getByRole('banner'), 'alice');

    await joinRoom(page.alice, 'general');
    await joinRoom(page.bob, 'general');
    await send(page.alice, 'hello bob');
    await hasText(log(page.bob), 'hello bob');
    await hasText(log(page.bob), 'alice');
    await page.bob.getByRole('textbox', { name: 'Message' }).fill('hi alice');
    await page.bob.getByRole('button', { name: 'Send' }).click();
    await hasText(log(page.alice), 'hi alice');
    // each message once, on both sides, and the box is cleared
    for (const p of [page.alice, page.bob]) {
      await countIs(log(p).getByText('hello bob', { exact: true }), 1);
      await countIs(log(p).getByText('hi alice', { exact: true }), 1);
    }
    assert.equal(await message(page.alice).inputValue(), '');
    // the room is listed in the Rooms navigation, named by its id
    await rooms(page.alice).getByRole('link', { name: 'general' }).waitFor();
    // both see each other online
    await hasText(people(page.alice).getByRole('listitem').filter({ hasText: 'bob' }), 'online');
    await hasText(people(page.bob).getByRole('listitem').filter({ hasText: 'alice' }), 'online');
  });

  test('unread counts show in the room list and clear on opening', async () => {
    await joinRoom(page.bob, 'random');
    await send(page.alice, 'ping one');
    await send(page.alice, 'ping two');
    const link = rooms(page.bob).getByRole('link', { name: 'general, 2 unread' });
    await link.waitFor();
    await link.click();
    await hasText(log(page.bob), 'ping two');
    await rooms(page.bob).getByRole('link', { name: 'general', exact: true }).waitFor();
  });

  test('text is shown as text and long words wrap', async () => {
    const html = '<img src=x onerror="window.__xss=1"><b>bold?</b>';
    await send(page.alice, html);
    await hasText(log(page.bob), html);
    assert.equal(await log(page.bob).locator('img').count(), 0);
    assert.equal(await log(page.bob).locator('b').count(), 0);
    assert.equal(await page.bob.evaluate(() => window.__xss), undefined);
    const long = 'x'.repeat(600);
    await send(page.alice, long);
    await hasText(log(page.bob), long);
    const overflow = await log(page.bob).evaluate((el) => el.scrollWidth - el.clientWidth);
    assert.ok(overflow <= 1, `the log scrolls sideways by ${overflow}px`);
  });

  test('typing shows under the messages and ends on send', async () => {
    const status = page.alice.getByRole('status');
    await message(page.bob).pressSequentially('I am typ', { delay: 30 });
    await hasText(status, 'bob is typing');
    await screenshot(page.alice, 'room');
    assert.deepEqual(await axeViolations(page.alice), []);
    await message(page.bob).press('Enter');
    await hasText(log(page.alice), 'I am typ');
    await lacksText(status, 'bob is typing', 3000);
  });

  test('a DM reaches the other user unopened, with an unread count', async () => {
    await people(page.alice).getByRole('button', { name: 'bob' }).click();
    await page.alice.waitForURL(/\/dm\/bob$/);
    await rooms(page.alice).getByRole('link', { name: 'bob' }).waitFor();
    await send(page.alice, 'a secret for bob');
    await hasText(log(page.alice), 'a secret for bob');
    const link = rooms(page.bob).getByRole('link', { name: 'alice, 1 unread' });
    await link.waitFor();
    await link.click();
    await hasText(log(page.bob), 'a secret for bob');
    await send(page.bob, 'got it');
    await hasText(log(page.alice), 'got it');
    await screenshot(page.bob, 'direct-message');
    // back to the room for the next steps
    await rooms(page.alice).getByRole('link', { name: 'general' }).click();
    await rooms(page.bob).getByRole('link', { name: 'general' }).click();
    await hasText(log(page.alice), 'hello bob');
  });

  test('after a dropped connection the UI reconnects and resumes without gaps or duplicates', async () => {
    assert.ok(aliceWs.open > 0, 'alice has a routed WebSocket');
    await aliceWs.cut();
    const alert = page.alice.getByRole('alert');
    await hasText(alert, 'Reconnecting');
    // alice writes while away: pending at once, sent after the reconnect
    await send(page.alice, 'written while offline');
    await hasText(log(page.alice), 'Sending');
    await screenshot(page.alice, 'reconnecting');
    for (const n of [1, 2, 3]) await send(page.bob, `missed ${n}`);
    await hasText(log(page.bob), 'missed 3');
    aliceWs.restore();
    await countIs(page.alice.getByRole('alert'), 0, 30000);
    await hasText(log(page.alice), 'missed 3');
    await hasText(log(page.bob), 'written while offline');
    for (const text of ['missed 1', 'missed 2', 'missed 3', 'written while offline', 'hello bob']) {
      await countIs(log(page.alice).getByText(text, { exact: true }), 1);
      await countIs(log(page.bob).getByText(text, { exact: true }), 1);
    }
    await lacksText(log(page.alice), 'Sending');
    // messages are in seq order without gaps
    const seqs = await log(page.alice).locator('[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i));
  });

  test('a reload shows the history', async () => {
    await page.bob.reload();
    await hasText(log(page.bob), 'written while offline');
    await hasText(log(page.bob), 'hello bob');
    await countIs(log(page.bob).getByText('missed 2', { exact: true }), 1);
  });

  test('both users ride out a restart of the server', async () => {
    await chat.server.stop();
    for (const p of [page.alice, page.bob]) await hasText(p.getByRole('alert'), 'Reconnecting');
    await chat.server.start(); // same port, same data
    for (const p of [page.alice, page.bob]) await countIs(p.getByRole('alert'), 0, 30000);
    await send(page.bob, 'after the restart');
    await hasText(log(page.alice), 'after the restart');
    await send(page.alice, 'still here');
    await hasText(log(page.bob), 'still here');
    for (const p of [page.alice, page.bob]) {
      await countIs(log(p).getByText('after the restart', { exact: true }), 1);
      await countIs(log(p).getByText('missed 1', { exact: true }), 1);
    }
  });

  test('scrolling up loads older history', async () => {
    // 70 messages straight over the wire from bob's page (same cookie), then alice opens the room.
    const sent = await sendOverWire(
      page.bob,
      'history',
      Array.from({ length: 70 }, (_, i) => `old message ${i + 1}`),
    );
    assert.equal(sent, 70);
    await joinRoom(page.alice, 'history');
    await hasText(log(page.alice), 'old message 70');
    assert.equal(await log(page.alice).getByText('old message 1', { exact: true }).count(), 0);
    await eventually(async () => {
      await log(page.alice).evaluate((el) => (el.scrollTop = 0));
      return (await log(page.alice).getByText('old message 1', { exact: true }).count()) === 1;
    }, 'older messages to load on scrolling up');
    await countIs(log(page.alice).locator('[data-seq]'), 70);
    await hasText(log(page.alice), 'Beginning of the conversation');
  });

  test('a failed send offers Retry, which resends it', async () => {
    // zoe has not registered yet: sending to the DM with her fails (not_found)
    await page.alice.goto(`${chat.base}/dm/zoe`);
    await send(page.alice, 'hi zoe');
    const retry = log(page.alice).getByRole('button', { name: 'Retry' });
    await retry.waitFor();
    await hasText(log(page.alice), 'Not sent');
    await screenshot(page.alice, 'send-failed');
    const c = await chat.browser.newContext({ viewport: DESKTOP });
    const zoe = await c.newPage();
    await signIn(zoe, chat.base, 'zoe', PASSWORD);
    await retry.click();
    await lacksText(log(page.alice), 'Not sent');
    await countIs(log(page.alice).getByText('hi zoe', { exact: true }), 1);
    await rooms(zoe).getByRole('link', { name: 'alice, 1 unread' }).click();
    await hasText(log(zoe), 'hi zoe');
    await c.close();
    await rooms(page.alice).getByRole('link', { name: 'general' }).click();
  });

  test('a user goes offline when their page closes', async () => {
    await page.bob.close();
    const bob = people(page.alice).getByRole('listitem').filter({ hasText: 'bob' });
    await hasText(bob, 'offline', 10000);
    assert.ok(!(await textOf(bob)).includes('online'));
    await hasText(bob, 'last seen');
    await screenshot(page.alice, 'people-offline');
  });

  test('only admins get the Activity page: charts and a searchable event table', async () => {
    assert.equal(await page.alice.getByRole('link', { name: 'Activity' }).count(), 0);
    const c = await chat.browser.newContext({ viewport: DESKTOP });
    const p = await c.newPage();
    await signIn(p, chat.base, ADMIN, ADMIN_PASSWORD);
    await p.getByRole('link', { name: 'Activity' }).click();
    await p.waitForURL(/\/activity$/);
    const search = p.getByRole('searchbox', { name: 'Search activity' });
    await search.waitFor();
    await eventually(async () => (await p.locator('main svg').count()) >= 3, 'the charts to render as SVG');
    const table = p.getByRole('table');
    await hasText(table, 'message.sent');
    await hasText(table, 'session.login');
    await hasText(p.getByRole('main'), 'Top rooms');
    await eventually(async () => Number(await textOf(p.getByTestId('active-users'))) >= 2, 'active users to count alice and bob');
    await screenshot(p, 'activity');
    assert.deepEqual(await axeViolations(p), []);
    await search.fill('bob');
    await eventually(async () => {
      const rows = await table.locator('tbody tr').allTextContents();
      return rows.length > 0 && rows.every((r) => r.includes('bob'));
    }, 'every row to mention bob after searching for bob');
    await search.fill('nobody-matches-this');
    await hasText(table, 'No events match');
    await c.close();
  });

  test('works on a narrow phone screen', async () => {
    const c = await chat.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p = await c.newPage();
    await signIn(p, chat.base, 'carol', PASSWORD);
    await joinRoom(p, 'general');
    await hasText(log(p), 'hello bob');
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
    await screenshot(p, 'mobile-room');
    assert.deepEqual(await axeViolations(p), []);
    await p.getByRole('button', { name: 'Menu' }).click();
    await people(p).getByRole('listitem').filter({ hasText: 'alice' }).waitFor();
    await screenshot(p, 'mobile-menu');
    await c.close();
  });

  test('signing out ends the session', async () => {
    await page.alice.getByRole('button', { name: 'Sign out' }).click();
    await page.alice.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.alice.reload();
    await page.alice.getByRole('button', { name: 'Sign in' }).waitFor();
    const status = await page.alice.evaluate(async () => (await fetch('/api/me')).status);
    assert.equal(status, 401);
  });
});
