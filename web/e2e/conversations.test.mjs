// Browser end-to-end tests of conversations (protocol version 2): edits,
// deletes, reactions, replies, mentions, unread and mention counts across
// tabs, read receipts, group DMs, formatting, and catching up on all of it
// after a dropped connection. Three users (alice, bob with two tabs, carol)
// share one server and one browser; the steps run in order.

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
  inView,
  joinRoom,
  lacksText,
  log,
  messageBox as message,
  notificationsOf,
  people,
  recordNotifications,
  rooms,
  screenshot,
  send,
  sendOverWire,
  setPageHidden,
  signIn,
  textOf,
} from './harness.mjs';

const PASSWORD = 'correct-horse-battery';
const DESKTOP = { width: 1280, height: 800 };
const EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢'];

describe('conversations in the browser', () => {
  const chat = chatFixture();
  const ctx = {};
  const page = {};
  // alice's WebSocket goes through a route the test can cut (catch-up step).
  let aliceWs;

  /** The list items of the log holding text (a reply also holds the text it quotes). */
  const items = (p, text) => log(p).getByRole('listitem').filter({ hasText: text });
  const item = (p, text) => items(p, text).first();
  /** Hovers the message with text and clicks one of its actions. */
  const act = async (p, text, action) => {
    const it = item(p, text);
    await it.hover();
    await it.getByRole('button', { name: action, exact: true }).click();
  };
  const link = (p, name) => rooms(p).getByRole('link', { name, exact: true });
  const reaction = (p, text, name) => item(p, text).getByRole('button', { name, exact: true });
  const pressed = async (locator) => (await locator.getAttribute('aria-pressed', { timeout: 2000 })) === 'true';

  test('three users sign in, bob in two tabs, and meet in a room', async () => {
    for (const who of ['alice', 'bob', 'carol']) {
      ctx[who] = await chat.browser.newContext({ viewport: DESKTOP });
      await recordNotifications(ctx[who]);
      page[who] = await ctx[who].newPage();
    }
    aliceWs = await cuttableWebSocket(page.alice);
    for (const who of ['alice', 'bob', 'carol']) await signIn(page[who], chat.base, who, PASSWORD);
    for (const who of ['alice', 'bob', 'carol']) await joinRoom(page[who], 'general');
    // bob's second tab: the same session, another connection
    page.bob2 = await ctx.bob.newPage();
    await page.bob2.goto(`${chat.base}/rooms/general`);
    await page.bob2.getByRole('heading', { name: '#general' }).waitFor();
    await send(page.alice, 'good morning');
    for (const p of [page.bob, page.bob2, page.carol]) await hasText(log(p), 'good morning');
    // each message is a list item holding its sender and its text
    await hasText(item(page.bob, 'good morning'), 'alice');
  });

  test('the author edits a message: Escape cancels, Enter saves, everyone sees "(edited)"', async () => {
    await send(page.alice, 'helo everyone');
    await hasText(log(page.bob), 'helo everyone');
    // nobody but the author may edit or delete (bob is no admin)
    await item(page.bob, 'helo everyone').hover();
    await item(page.bob, 'helo everyone').getByRole('button', { name: 'Reply' }).waitFor();
    assert.equal(await item(page.bob, 'helo everyone').getByRole('button', { name: 'Edit message' }).count(), 0);
    assert.equal(await item(page.bob, 'helo everyone').getByRole('button', { name: 'Delete message' }).count(), 0);

    await act(page.alice, 'helo everyone', 'Edit message');
    const box = log(page.alice).getByRole('textbox', { name: 'Edit message' });
    await box.fill('this edit is cancelled');
    await box.press('Escape');
    await countIs(box, 0);
    await hasText(item(page.alice, 'helo everyone'), 'helo everyone');

    await act(page.alice, 'helo everyone', 'Edit message');
    await box.fill('never saved either');
    await log(page.alice).getByRole('button', { name: 'Cancel', exact: true }).click();
    await countIs(box, 0);

    await act(page.alice, 'helo everyone', 'Edit message');
    assert.equal(await box.inputValue(), 'helo everyone');
    await log(page.alice).getByRole('button', { name: 'Save', exact: true }).waitFor();
    await box.fill('hello everyone');
    await box.press('Enter');
    await countIs(box, 0);
    for (const p of [page.alice, page.bob, page.bob2, page.carol]) {
      await hasText(item(p, 'hello everyone'), '(edited)');
      await lacksText(log(p), 'helo everyone');
      await countIs(log(p).getByText('hello everyone', { exact: true }), 1);
    }
    assert.ok(!(await textOf(item(page.bob, 'good morning'))).includes('(edited)'));
  });

  test('reactions: a menu of emoji, then toggle buttons with counts and pressed state', async () => {
    await act(page.bob, 'hello everyone', 'Add reaction');
    const menu = page.bob.getByRole('menu');
    for (const emoji of EMOJI) await menu.getByRole('menuitem', { name: emoji, exact: true }).waitFor();
    await menu.getByRole('menuitem', { name: '👍', exact: true }).click();
    await countIs(page.bob.getByRole('menu'), 0);

    await reaction(page.alice, 'hello everyone', '👍 1').waitFor();
    await reaction(page.bob, 'hello everyone', '👍 1').waitFor();
    assert.equal(await pressed(reaction(page.bob, 'hello everyone', '👍 1')), true);
    assert.equal(await pressed(reaction(page.alice, 'hello everyone', '👍 1')), false);

    await reaction(page.alice, 'hello everyone', '👍 1').click();
    for (const p of [page.alice, page.bob, page.carol]) await reaction(p, 'hello everyone', '👍 2').waitFor();
    assert.equal(await pressed(reaction(page.alice, 'hello everyone', '👍 2')), true);
    assert.equal(await pressed(reaction(page.carol, 'hello everyone', '👍 2')), false);

    // a second emoji from carol, then bob takes his thumb back
    await act(page.carol, 'hello everyone', 'Add reaction');
    await page.carol.getByRole('menuitem', { name: '🎉', exact: true }).click();
    await reaction(page.alice, 'hello everyone', '🎉 1').waitFor();
    await reaction(page.bob, 'hello everyone', '👍 2').click();
    for (const p of [page.alice, page.bob, page.carol]) await reaction(p, 'hello everyone', '👍 1').waitFor();
    assert.equal(await pressed(reaction(page.bob, 'hello everyone', '👍 1')), false);
    assert.equal(await pressed(reaction(page.alice, 'hello everyone', '👍 1')), true);
  });

  test('a reply quotes what it answers, and clicking the quote scrolls to it', async () => {
    // push the original out of view
    const fillers = Array.from({ length: 30 }, (_, i) => `filler ${i + 1}`);
    assert.equal(await sendOverWire(page.bob, 'general', fillers), fillers.length);
    await hasText(log(page.carol), 'filler 30');

    await act(page.carol, 'hello everyone', 'Reply');
    await hasText(page.carol.getByRole('main'), 'Replying to alice');
    await page.carol.getByRole('button', { name: 'Cancel reply' }).click();
    await lacksText(page.carol.getByRole('main'), 'Replying to alice');
    await act(page.carol, 'hello everyone', 'Reply');
    await hasText(page.carol.getByRole('main'), 'Replying to alice');
    await send(page.carol, 'welcome back');
    await lacksText(page.carol.getByRole('main'), 'Replying to alice');

    const reply = item(page.alice, 'welcome back');
    await hasText(reply, 'hello everyone');
    await hasText(item(page.bob, 'welcome back'), 'hello everyone');
    const original = log(page.alice).locator('li[data-seq]').filter({ hasText: 'hello everyone' }).first();
    await eventually(async () => !(await inView(original, log(page.alice))), 'the original to be scrolled out of view');
    await reply.getByRole('button', { name: /hello everyone/ }).click();
    await eventually(() => inView(original, log(page.alice)), 'the quoted message to scroll into view');
    await screenshot(page.alice, 'conversation');
    assert.deepEqual(await axeViolations(page.alice), []);
  });

  test('the author deletes a message after confirming; it is gone for everyone, live', async () => {
    await act(page.alice, 'hello everyone', 'Delete message');
    const dialog = page.alice.getByRole('dialog', { name: 'Delete message?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await countIs(page.alice.getByRole('dialog'), 0);
    await hasText(log(page.bob), 'hello everyone');

    await act(page.alice, 'hello everyone', 'Delete message');
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await countIs(page.alice.getByRole('dialog'), 0);
    for (const p of [page.alice, page.bob, page.bob2, page.carol]) {
      await hasText(log(p), 'This message was deleted');
      // the text is gone, from the message and from the reply's quote
      await lacksText(log(p), 'hello everyone');
      await hasText(item(p, 'welcome back'), 'deleted message');
    }
    // its reactions went with it
    assert.equal(await log(page.bob).getByRole('button', { name: /^👍/ }).count(), 0);
  });

  test('an admin deletes anyone\'s message in a public room; others may not', async () => {
    await send(page.carol, 'buy cheap watches');
    await hasText(log(page.bob), 'buy cheap watches');
    await item(page.bob, 'buy cheap watches').hover();
    assert.equal(await item(page.bob, 'buy cheap watches').getByRole('button', { name: 'Delete message' }).count(), 0);

    ctx.admin = await chat.browser.newContext({ viewport: DESKTOP });
    page.admin = await ctx.admin.newPage();
    await signIn(page.admin, chat.base, ADMIN, ADMIN_PASSWORD);
    await joinRoom(page.admin, 'general');
    await act(page.admin, 'buy cheap watches', 'Delete message');
    await page.admin.getByRole('dialog', { name: 'Delete message?' }).getByRole('button', { name: 'Delete', exact: true }).click();
    for (const p of [page.bob, page.carol]) await lacksText(log(p), 'buy cheap watches');
    await countIs(log(page.bob).getByText('This message was deleted'), 2);
    await ctx.admin.close();
  });

  test('typing @ offers people; Enter and Tab pick; the mention is highlighted and notifies a hidden tab', async () => {
    await joinRoom(page.bob2, 'random');
    await setPageHidden(page.bob, true);

    await message(page.carol).pressSequentially('@al');
    const options = page.carol.getByRole('listbox');
    await options.getByRole('option', { name: 'alice', exact: true }).waitFor();
    await screenshot(page.carol, 'mention-autocomplete');
    await message(page.carol).press('Enter');
    assert.equal(await message(page.carol).inputValue(), '@alice ');
    await countIs(page.carol.getByRole('listbox'), 0);
    await message(page.carol).pressSequentially('and @b');
    await options.getByRole('option', { name: 'bob', exact: true }).waitFor();
    await message(page.carol).press('Tab');
    assert.equal(await message(page.carol).inputValue(), '@alice and @bob ');
    await message(page.carol).pressSequentially('please see above');
    await message(page.carol).press('Enter');
    await hasText(log(page.bob), 'please see above');

    const mention = item(page.bob, 'please see above');
    await eventually(async () => (await mention.getAttribute('data-mentioned')) === 'true', 'the mention of bob to be highlighted');
    assert.equal(await item(page.carol, 'please see above').getAttribute('data-mentioned'), null);
    assert.equal(await item(page.bob, 'good morning').getAttribute('data-mentioned'), null);

    // the hidden tab notifies; the visible one does not
    const notes = await eventually(async () => {
      const n = await notificationsOf(page.bob);
      return n.length > 0 && n;
    }, 'a notification of the mention in the hidden tab');
    assert.equal(notes.length, 1);
    assert.match(notes[0].title, /carol/);
    assert.match(notes[0].body, /please see above/);
    assert.deepEqual(await notificationsOf(page.bob2), []);
  });

  test('unread and mention counts name the room links, and drop on the other tab once read', async () => {
    // bob's hidden tab did not read the mention: both tabs count it
    for (const p of [page.bob, page.bob2]) await link(p, 'general, 1 unread, 1 mention').waitFor();
    await send(page.alice, 'one more thing');
    await send(page.alice, 'and another');
    for (const p of [page.bob, page.bob2]) await link(p, 'general, 3 unread, 1 mention').waitFor();
    await screenshot(page.bob2, 'unread-counts');

    // the tab showing general comes to the front: read there, counts drop here too
    await setPageHidden(page.bob, false);
    await link(page.bob, 'general').waitFor();
    await link(page.bob2, 'general').waitFor();
    // where bob stopped reading
    const divider = log(page.bob).getByRole('separator', { name: 'New messages' });
    await divider.waitFor();
    const firstNew = await divider.evaluate((el) => el.nextElementSibling?.querySelector('li')?.textContent ?? '');
    assert.match(firstNew, /please see above/);

    // opening a room and seeing its newest message marks it read, for every tab
    await joinRoom(page.bob, 'random');
    await send(page.alice, 'are you still here?');
    for (const p of [page.bob, page.bob2]) await link(p, 'general, 1 unread').waitFor();
    await link(page.bob2, 'general, 1 unread').click();
    await hasText(log(page.bob2), 'are you still here?');
    await link(page.bob, 'general').waitFor();
    await link(page.bob2, 'general').waitFor();
  });

  test('a DM shows "Seen" under the newest own message the other user read, and notifies when hidden', async () => {
    await people(page.alice).getByRole('button', { name: 'bob' }).click();
    await page.alice.waitForURL(/\/dm\/bob$/);
    await setPageHidden(page.bob2, true);
    await send(page.alice, 'are you there?');
    await send(page.alice, 'it is about the release');
    await hasText(log(page.alice), 'it is about the release');
    await link(page.bob, 'alice, 2 unread').waitFor();
    const notes = await eventually(async () => {
      const n = (await notificationsOf(page.bob2)).filter((x) => /release/.test(x.body));
      return n.length > 0 && n;
    }, 'a notification of the DM in the hidden tab');
    assert.match(notes[0].title, /alice/);
    await setPageHidden(page.bob2, false);
    assert.equal(await log(page.alice).getByText('Seen', { exact: true }).count(), 0);

    await link(page.bob, 'alice, 2 unread').click();
    await hasText(log(page.bob), 'it is about the release');
    await hasText(item(page.alice, 'it is about the release'), 'Seen');
    await countIs(log(page.alice).getByText('Seen', { exact: true }), 1);
    assert.ok(!(await textOf(item(page.alice, 'are you there?'))).includes('Seen'));

    // and back: alice has the DM open, so bob's answer is seen at once
    await send(page.bob, 'yes, go ahead');
    await hasText(log(page.alice), 'yes, go ahead');
    await hasText(item(page.bob, 'yes, go ahead'), 'Seen');
    // alice's receipt stays under her newest message bob read
    await countIs(log(page.alice).getByText('Seen', { exact: true }), 1);
    await screenshot(page.bob, 'read-receipt');

    // the receipt comes from the rooms list after a reload, with no read event
    await page.alice.reload();
    await hasText(log(page.alice), 'yes, go ahead');
    await hasText(item(page.alice, 'it is about the release'), 'Seen');
    await countIs(log(page.alice).getByText('Seen', { exact: true }), 1);
  });

  test('a group DM of three: started from a dialog, named by the other members, with receipts', async () => {
    await page.alice.getByRole('button', { name: 'New group message' }).click();
    const dialog = page.alice.getByRole('dialog', { name: 'New group message' });
    await dialog.waitFor();
    await dialog.getByRole('checkbox', { name: 'bob', exact: true }).check();
    await dialog.getByRole('checkbox', { name: 'carol', exact: true }).check();
    await screenshot(page.alice, 'group-new');
    assert.deepEqual(await axeViolations(page.alice), []);
    await dialog.getByRole('button', { name: 'Start' }).click();
    await countIs(page.alice.getByRole('dialog'), 0);
    await page.alice.getByRole('heading', { name: 'bob, carol' }).waitFor();
    await send(page.alice, 'hello group');
    await hasText(log(page.alice), 'hello group');
    await link(page.alice, 'bob, carol').waitFor();

    await link(page.bob, 'alice, carol, 1 unread').waitFor();
    await link(page.carol, 'alice, bob, 1 unread').waitFor();
    await link(page.bob, 'alice, carol, 1 unread').click();
    await hasText(log(page.bob), 'hello group');
    await hasText(item(page.alice, 'hello group'), 'Seen by bob');
    await link(page.carol, 'alice, bob, 1 unread').click();
    await hasText(log(page.carol), 'hello group');
    await hasText(item(page.alice, 'hello group'), 'Seen by bob, carol');

    await send(page.carol, 'hi both');
    await hasText(log(page.bob), 'hi both');
    await hasText(log(page.alice), 'hi both');
    await screenshot(page.alice, 'group-message');
  });

  test('formatting renders as elements; links open in a new tab; nothing else becomes HTML', async () => {
    await send(
      page.alice,
      'this is **bold**, _slanted_, `a_code_span` and https://example.com/docs?a=1 but not javascript:alert(1) nor <b>tags</b>',
    );
    await message(page.alice).fill('```\nconst x = 1;\n```');
    await message(page.alice).press('Enter');
    const it = item(page.bob, 'this is');
    await hasText(it, 'javascript:alert(1)');
    assert.equal(await textOf(it.locator('strong')), 'bold');
    assert.equal(await textOf(it.locator('em')), 'slanted');
    assert.equal(await textOf(it.locator('code')), 'a_code_span');
    assert.equal(await it.locator('b').count(), 0);
    await hasText(it, '<b>tags</b>');
    const a = it.getByRole('link');
    await countIs(a, 1);
    assert.equal(await textOf(a), 'https://example.com/docs?a=1');
    assert.equal(await a.getAttribute('target'), '_blank');
    assert.equal(await a.getAttribute('rel'), 'noopener noreferrer');
    assert.match(await a.getAttribute('href'), /^https:\/\/example\.com\/docs\?a=1$/);
    const pre = log(page.bob).locator('pre');
    await countIs(pre, 1);
    assert.equal((await textOf(pre)).trim(), 'const x = 1;');
  });

  test('after a dropped connection, edits, deletes and reactions made meanwhile appear', async () => {
    await rooms(page.alice).getByRole('link', { name: /^general/ }).click();
    await rooms(page.bob).getByRole('link', { name: /^general/ }).click();
    await send(page.bob, 'before the cut');
    await send(page.bob, 'to be taken back');
    await hasText(log(page.alice), 'to be taken back');
    const takenBack = await item(page.alice, 'to be taken back').getAttribute('data-seq');

    assert.ok(aliceWs.open > 0, 'alice has a routed WebSocket');
    await aliceWs.cut();
    await hasText(page.alice.getByRole('alert'), 'Reconnecting');

    await act(page.bob, 'before the cut', 'Edit message');
    await log(page.bob).getByRole('textbox', { name: 'Edit message' }).fill('edited during the cut');
    await log(page.bob).getByRole('textbox', { name: 'Edit message' }).press('Enter');
    await hasText(item(page.bob, 'edited during the cut'), '(edited)');
    await act(page.bob, 'edited during the cut', 'Add reaction');
    await page.bob.getByRole('menuitem', { name: '😮', exact: true }).click();
    await reaction(page.bob, 'edited during the cut', '😮 1').waitFor();
    await act(page.bob, 'to be taken back', 'Delete message');
    await page.bob.getByRole('dialog', { name: 'Delete message?' }).getByRole('button', { name: 'Delete', exact: true }).click();
    await lacksText(log(page.bob), 'to be taken back');
    await send(page.bob, 'sent during the cut');
    await hasText(log(page.bob), 'sent during the cut');

    aliceWs.restore();
    await countIs(page.alice.getByRole('alert'), 0, 30000);
    await hasText(log(page.alice), 'sent during the cut');
    await hasText(item(page.alice, 'edited during the cut'), '(edited)');
    await reaction(page.alice, 'edited during the cut', '😮 1').waitFor();
    await lacksText(log(page.alice), 'before the cut');
    await lacksText(log(page.alice), 'to be taken back');
    await hasText(log(page.alice).locator(`[data-seq="${takenBack}"]`), 'This message was deleted');
    await countIs(log(page.alice).getByText('sent during the cut', { exact: true }), 1);
    const seqs = await log(page.alice).locator('[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i));
  });
});
