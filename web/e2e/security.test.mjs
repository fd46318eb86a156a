// Browser tests of the server's defences in Chromium: the UI works under
// the server's Content-Security-Policy without a single violation, and a
// page of another site can neither switch the user's session (login CSRF)
// nor frame the chat. The chat is served as http://localhost:<port>; the
// other site is http://127.0.0.1:<port>, a site of its own to the browser.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ADMIN, ADMIN_PASSWORD, buildServer, ChatServer, eventually, hasText, joinRoom, launchBrowser, signIn } from './harness.mjs';

const PASSWORD = 'correct-horse-battery';
const DESKTOP = { width: 1280, height: 800 };

/** A page that records the CSP violations and CSP console errors of every document it loads. */
async function watchedPage(context) {
  const page = await context.newPage();
  const violations = [];
  page.on('console', (m) => {
    if (/content.security.policy/i.test(m.text())) violations.push(`console: ${m.text()}`);
  });
  await page.exposeFunction('reportCSPViolation', (v) => violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      window.reportCSPViolation(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`),
    );
  });
  return { page, violations };
}

/** Another site: serves each path's HTML from pages, on a free port of 127.0.0.1. */
function otherSite(pages) {
  const srv = createServer((req, res) => {
    const html = pages[req.url];
    res.writeHead(html ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html ?? 'not found');
  });
  return new Promise((ok) =>
    srv.listen(0, '127.0.0.1', () => ok({ url: `http://127.0.0.1:${srv.address().port}`, close: () => srv.close() })),
  );
}

/** The user id the page's session belongs to, or the status of /api/me. */
const sessionUser = (page) =>
  page.evaluate(async () => {
    const res = await fetch('/api/me');
    return res.ok ? (await res.json()).user.id : res.status;
  });

describe('security in the browser', () => {
  let server;
  let browser;
  let base;
  let site;

  before(async () => {
    server = new ChatServer(buildServer());
    await server.start();
    base = server.url;
    browser = await launchBrowser();
    // mallory exists, so that a forged sign-in would succeed if let through.
    const res = await fetch(`${base}/api/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'mallory', password: PASSWORD }),
    });
    assert.equal(res.status, 200);
    const forged = JSON.stringify({ username: 'mallory', password: PASSWORD, pad: '' }).slice(0, -2);
    site = await otherSite({
      // An HTML form sends text/plain as name=value: the name holds the JSON up
      // to the pad's opening quote, the value closes it.
      '/csrf': `<!doctype html><form method="POST" action="${base}/api/session" enctype="text/plain">
        <input type="hidden" name='${forged}' value='"}'></form><script>document.forms[0].submit()</script>`,
      '/frame': `<!doctype html><iframe id="chat" src="${base}/" width="800" height="600"></iframe>`,
    });
  });

  after(async () => {
    site?.close();
    await browser?.close();
    await server?.close();
  });

  test('the UI signs in, chats and shows the activity charts with no CSP violation', async () => {
    const c = await browser.newContext({ viewport: DESKTOP });
    const { page, violations } = await watchedPage(c);
    const res = await page.goto(base);
    const csp = res.headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self';/);
    assert.doesNotMatch(csp, /unsafe/);
    await signIn(page, base, 'alice', PASSWORD);
    await joinRoom(page, 'general');
    await page.getByRole('textbox', { name: 'Message' }).fill('hello under a strict CSP');
    await page.getByRole('textbox', { name: 'Message' }).press('Enter');
    await hasText(page.getByRole('log', { name: 'Messages' }), 'hello under a strict CSP');

    const admin = await watchedPage(await browser.newContext({ viewport: DESKTOP }));
    await signIn(admin.page, base, ADMIN, ADMIN_PASSWORD);
    await admin.page.getByRole('link', { name: 'Activity' }).click();
    await eventually(async () => (await admin.page.locator('main svg').count()) >= 3, 'the charts to render as SVG');
    await hasText(admin.page.getByRole('table'), 'message.sent');

    assert.deepEqual(violations, []);
    assert.deepEqual(admin.violations, []);
    await admin.page.context().close();
    await c.close();
  });

  test('a page of another site cannot sign the user in as someone else', async () => {
    const c = await browser.newContext({ viewport: DESKTOP });
    const page = await c.newPage();
    await signIn(page, base, 'bob', PASSWORD);
    assert.equal(await sessionUser(page), 'bob');
    const answer = page.waitForResponse((r) => r.url() === `${base}/api/session`);
    await page.goto(`${site.url}/csrf`);
    assert.equal((await answer).status(), 403);
    await page.goto(base);
    assert.equal(await sessionUser(page), 'bob');
    await c.close();
  });

  test('no other site can frame the chat', async () => {
    const c = await browser.newContext({ viewport: DESKTOP });
    const page = await c.newPage();
    const refused = [];
    page.on('console', (m) => {
      if (/frame-ancestors|X-Frame-Options/i.test(m.text())) refused.push(m.text());
    });
    await page.goto(`${site.url}/frame`);
    await eventually(() => refused.length > 0, 'the browser to refuse to frame the chat');
    const frame = page.frames().find((f) => f !== page.mainFrame());
    assert.equal(await frame.getByRole('button', { name: 'Sign in' }).count(), 0);
    await c.close();
  });
});
