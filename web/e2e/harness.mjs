// Helpers of the browser tests: build and start the real chat server on a free
// port with a fresh data directory, launch Debian's Chromium through
// playwright-core, and small polling assertions (playwright-core has no expect).

import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const webDir = resolve(here, '..');
export const repoDir = resolve(webDir, '..');
export const resultsDir = join(webDir, 'test-results');
const screenshotsDir = join(resultsDir, 'screenshots');
const docsScreenshotsDir = join(repoDir, 'docs', 'screenshots');

export const ADMIN = 'admin';
export const ADMIN_PASSWORD = 'admin-password-e2e';

/** Builds bin/chatserver with the UI in web/dist embedded (CHAT_SERVER_BIN overrides). */
export function buildServer() {
  if (process.env.CHAT_SERVER_BIN) return process.env.CHAT_SERVER_BIN;
  if (!existsSync(join(webDir, 'dist', 'index.html'))) {
    throw new Error('web/dist/index.html is missing: run `npm run build` in web/ first (make test-web-e2e does)');
  }
  const bin = join(repoDir, 'bin', 'chatserver');
  // Built as `make build` builds it.
  execFileSync('go', ['build', '-o', bin, './cmd/chatserver'], {
    cwd: repoDir,
    stdio: 'inherit',
    env: { ...process.env, CGO_ENABLED: '0' },
  });
  return bin;
}

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** A chat server process on a free port; restart() keeps its data directory. */
export class ChatServer {
  constructor(bin) {
    this.bin = bin;
    this.dataDir = mkdtempSync(join(tmpdir(), 'chat-e2e-'));
    this.proc = null;
  }

  get url() {
    return `http://localhost:${this.port}`;
  }

  async start() {
    this.port ??= await freePort();
    mkdirSync(resultsDir, { recursive: true });
    const log = openSync(join(resultsDir, 'chatserver.log'), 'a');
    this.proc = spawn(this.bin, [], {
      env: {
        ...process.env,
        CHAT_ADDR: `127.0.0.1:${this.port}`,
        CHAT_DATA_DIR: this.dataDir,
        CHAT_ADMINS: ADMIN,
        CHAT_ADMIN_PASSWORD: ADMIN_PASSWORD,
        CHAT_RATE_LIMIT: '0',
        CHAT_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', log, log],
    });
    const exited = new Promise((_, fail) => {
      this.proc.once('error', (err) => fail(new Error(`cannot start ${this.bin}: ${err.message}`)));
      this.proc.once('exit', (code) => fail(new Error(`chatserver exited with ${code}; see web/test-results/chatserver.log`)));
    });
    exited.catch(() => {});
    await Promise.race([exited, this.waitReady()]);
  }

  async waitReady(timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/readyz`);
        if (res.ok) return;
      } catch {
        /* not yet */
      }
      await sleep(100);
    }
    throw new Error('chatserver did not become ready');
  }

  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const done = new Promise((ok) => p.once('exit', ok));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 10000);
    await done;
    clearTimeout(timer);
    this.proc = null;
  }

  async close() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * The chat server and the browser of the enclosing describe block: started
 * before its tests and stopped after them. Read them as chat.server,
 * chat.browser and chat.base (the server's URL) inside the tests.
 */
export function chatFixture() {
  const chat = { server: undefined, browser: undefined, base: '' };
  before(async () => {
    chat.server = new ChatServer(buildServer());
    await chat.server.start();
    chat.base = chat.server.url;
    chat.browser = await launchBrowser();
  });
  after(async () => {
    await chat.browser?.close();
    await chat.server?.close();
  });
  return chat;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value; fails with the message and the last value. */
export async function eventually(fn, message, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out: ${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(100);
  }
}

export async function textOf(locator) {
  return (await locator.textContent({ timeout: 2000 })) ?? '';
}

export const hasText = (locator, text, timeoutMs) =>
  eventually(async () => (await textOf(locator)).includes(text), `${locator} to contain ${JSON.stringify(text)}`, timeoutMs);

export const lacksText = (locator, text, timeoutMs) =>
  eventually(async () => !(await textOf(locator)).includes(text), `${locator} not to contain ${JSON.stringify(text)}`, timeoutMs);

export const countIs = (locator, n, timeoutMs) =>
  eventually(async () => (await locator.count()) === n || false, `${locator} to match ${n} elements`, timeoutMs);

/**
 * Replaces the browser's Notification API in every page of context with one
 * that has permission and records what it shows in window.__notifications.
 */
export async function recordNotifications(context) {
  await context.addInitScript(() => {
    window.__notifications = [];
    class RecordedNotification {
      static permission = 'granted';
      static requestPermission() {
        return Promise.resolve('granted');
      }
      constructor(title, options = {}) {
        window.__notifications.push({ title, body: options.body ?? '' });
      }
      close() {}
    }
    Object.defineProperty(window, 'Notification', { value: RecordedNotification, configurable: true, writable: true });
  });
}

/** The notifications page has shown (see recordNotifications). */
export const notificationsOf = (page) => page.evaluate(() => window.__notifications ?? []);

/** Makes the page believe it is hidden (another tab in front) or visible again. */
export async function setPageHidden(page, hidden) {
  await page.evaluate((h) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

/** Sends texts to room over a WebSocket of its own from page (same session), each acknowledged. */
export async function sendOverWire(page, room, texts) {
  return page.evaluate(
    async ({ room, texts }) => {
      const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws`);
      const replies = new Map();
      await new Promise((ok, fail) => {
        ws.onerror = fail;
        ws.onmessage = (ev) => {
          for (const line of String(ev.data).split('\n')) {
            if (!line) continue;
            const f = JSON.parse(line);
            if (f.type === 'hello') ok();
            if (f.type === 'reply') replies.set(f.re, f);
          }
        };
      });
      const stamp = Date.now().toString(36);
      texts.forEach((text, i) => ws.send(JSON.stringify({ type: 'send', id: i + 1, room, text, cid: `wire-${stamp}-${i}` })));
      const deadline = Date.now() + 15000;
      while (replies.size < texts.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      ws.close();
      return [...replies.values()].filter((r) => r.ok).length;
    },
    { room, texts },
  );
}

/** Whether the element of locator lies within the visible part of the scrolled container. */
export async function inView(locator, container) {
  const [box, view] = await Promise.all([locator.boundingBox(), container.boundingBox()]);
  return !!box && !!view && box.y >= view.y - 1 && box.y + box.height <= view.y + view.height + 1;
}

/** Saves a screenshot into web/test-results/screenshots, and into docs/screenshots with UPDATE_SCREENSHOTS=1. */
export async function screenshot(page, name) {
  mkdirSync(screenshotsDir, { recursive: true });
  const file = join(screenshotsDir, `${name}.png`);
  await page.screenshot({ path: file });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(docsScreenshotsDir, { recursive: true });
    copyFileSync(file, join(docsScreenshotsDir, `${name}.png`));
  }
}

// The chat screen's parts, by the names the UI gives them.
export const log = (page) => page.getByRole('log', { name: 'Messages' });
export const rooms = (page) => page.getByRole('navigation', { name: 'Rooms' });
export const people = (page) => page.getByRole('list', { name: 'People' });
export const messageBox = (page) => page.getByRole('textbox', { name: 'Message' });

/** Writes text into the message box and sends it with Enter. */
export async function send(page, text) {
  await messageBox(page).fill(text);
  await messageBox(page).press('Enter');
}

/**
 * Routes page's WebSocket through the test: cut() closes it and refuses new
 * ones, restore() lets them through again; open counts those let through.
 */
export async function cuttableWebSocket(page) {
  const routes = [];
  let blocked = false;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (blocked) {
      ws.close({ code: 4000, reason: 'blocked by the test' });
      return;
    }
    ws.connectToServer();
    routes.push(ws);
  });
  return {
    get open() {
      return routes.length;
    },
    async cut() {
      blocked = true;
      for (const ws of routes.splice(0)) await ws.close({ code: 4001, reason: 'cut by the test' });
    },
    restore() {
      blocked = false;
    },
  };
}

/** Signs in through the form and waits for the chat screen. */
export async function signIn(page, baseURL, username, password) {
  await page.goto(baseURL);
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Joins (or creates) a public room through the Room box. */
export async function joinRoom(page, room) {
  await page.getByRole('textbox', { name: 'Room' }).fill(room);
  await page.getByRole('button', { name: 'Join' }).click();
  await page.getByRole('heading', { name: `#${room}` }).waitFor();
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Accessibility problems axe-core finds on the page (WCAG 2.1 A/AA, contrast included, and best practices). */
export async function axeViolations(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }),
  );
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
}
