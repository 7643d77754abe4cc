/**
 * The demo chat page (web/) in a real browser: Debian's Chromium driven by playwright-core,
 * against an in-process dev-mode node. Alice loads the page through a TCP proxy (so the test
 * can cut her network), Bob directly. Every wait is a locator with an explicit timeout.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createNode, loadConfig } from '../../src/main.js';
import { startBuiltNode, type TestNode } from '../helpers/node.js';
import { startProxy, type TcpProxy } from '../helpers/proxy.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
const SCREENSHOT = join(ROOT, 'test-results', 'chat.png');
const WAIT = { timeout: 10_000 };

let node: TestNode;
let proxy: TcpProxy;
let profile: string;
let context: BrowserContext;
let alice: Page;
let bob: Page;
const pageErrors: string[] = [];

async function open(url: string, user: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${user}: ${err.message}`));
  await page.goto(url);
  await page.getByTestId('login-name').fill(user);
  await page.getByTestId('login-button').click();
  await page.getByTestId('chat').waitFor({ state: 'visible', ...WAIT });
  await page.getByTestId('room-title').filter({ hasText: '#lobby' }).waitFor(WAIT);
  await page.getByTestId('member').and(page.locator(`[data-user="${user}"]`)).waitFor(WAIT);
  return page;
}

const message = (page: Page, text: string) => page.getByTestId('message').filter({ hasText: text });
const member = (page: Page, user: string) => page.getByTestId('member').and(page.locator(`[data-user="${user}"]`));
const unreadBadge = (page: Page, room: string) => page.locator(`[data-testid="room-item"][data-room="${room}"] [data-testid="unread-badge"]`);

beforeAll(async () => {
  // Always rebuild: web/dist must be the page of these sources (esbuild takes well under a second).
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-web.mjs')], { cwd: ROOT, stdio: 'pipe' });
  const { config } = loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent' });
  node = await startBuiltNode(createNode(config, createLogger(config.logLevel)), config);
  proxy = await startProxy(node.port);
  profile = mkdtempSync(join(tmpdir(), 'parley-e2e-chromium-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, headless: true, viewport: { width: 1100, height: 640 } });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await proxy?.close();
  await node?.close();
});

describe('demo chat page in Chromium', () => {
  it('serves the page in dev mode and both users log in with a dev token', async () => {
    expect(node.config.devMode).toBe(true);
    alice = await open(`${proxy.httpUrl}/`, 'alice');
    bob = await open(`${node.httpUrl}/`, 'bob');
    expect(await alice.getByTestId('me').textContent()).toBe('alice');
    expect(await alice.getByTestId('conn-banner').isHidden()).toBe(true);
  }, 30_000);

  it('presence: each sees the other online with a device count', async () => {
    await member(alice, 'bob').getByTestId('member-devices').filter({ hasText: '1 device' }).waitFor(WAIT);
    await member(bob, 'alice').getByTestId('member-devices').filter({ hasText: '1 device' }).waitFor(WAIT);
    await bob.getByTestId('occupancy').filter({ hasText: '2' }).waitFor(WAIT);
  });

  it('typing: bob sees "alice is typing…" while she types, and it goes away when she sends', async () => {
    await alice.getByTestId('message-input').pressSequentially('hello bo');
    await bob.getByTestId('typing').filter({ hasText: 'alice is typing…' }).waitFor(WAIT);
    await alice.getByTestId('message-input').pressSequentially('b');
    await alice.getByTestId('message-input').press('Enter');
    await message(bob, 'hello bob').waitFor(WAIT);
    await bob.getByTestId('typing').filter({ hasText: 'typing' }).waitFor({ state: 'detached', ...WAIT });
  });

  it('messages: both see each message with its sender and time', async () => {
    await message(alice, 'hello bob').waitFor(WAIT);
    const seen = message(bob, 'hello bob');
    expect(await seen.getByTestId('message-from').textContent()).toBe('alice');
    expect(await seen.getByTestId('message-time').textContent()).toMatch(/\d{1,2}[:.]\d{2}/);
    await bob.getByTestId('message-input').fill('hi alice!');
    await bob.getByTestId('send-button').click();
    await message(alice, 'hi alice!').getByTestId('message-from').filter({ hasText: 'bob' }).waitFor(WAIT);
    await message(bob, 'hi alice!').waitFor(WAIT);
  });

  it('read receipts: alice sees "seen by bob" under her newest message', async () => {
    await alice.getByTestId('message-input').fill('did you read this?');
    await alice.getByTestId('message-input').press('Enter');
    await message(bob, 'did you read this?').waitFor(WAIT);
    await alice.getByTestId('seen-by').filter({ hasText: 'seen by bob' }).waitFor(WAIT);
  });

  it('unread counts: a message in a room bob is not looking at counts, and clears when he opens it', async () => {
    await bob.getByTestId('join-room').fill('side');
    await bob.getByTestId('join-button').click();
    await bob.getByTestId('room-title').filter({ hasText: '#side' }).waitFor(WAIT);
    await alice.getByTestId('message-input').fill('are you still in the lobby?');
    await alice.getByTestId('message-input').press('Enter');
    await unreadBadge(bob, 'lobby').filter({ hasText: '1' }).waitFor(WAIT);
    expect(await unreadBadge(bob, 'side').isHidden()).toBe(true);
    await bob.locator('[data-testid="room-button"][data-room="lobby"]').click();
    await message(bob, 'are you still in the lobby?').waitFor(WAIT);
    await unreadBadge(bob, 'lobby').waitFor({ state: 'hidden', ...WAIT });
    await alice.getByTestId('seen-by').filter({ hasText: 'seen by bob' }).waitFor(WAIT);
  });

  it('message changes: bob reacts, alice edits, bob replies in a thread, alice deletes', async () => {
    const inRoom = (page: Page, text: string) => page.getByTestId('messages').getByTestId('message').filter({ hasText: text });
    await alice.getByTestId('message-input').fill('a message to change');
    await alice.getByTestId('message-input').press('Enter');
    const seen = inRoom(bob, 'a message to change');
    await seen.waitFor(WAIT);
    // A reaction: bob's click, alice's count.
    await seen.locator('[data-testid="react-option"][data-reaction="👍"]').click();
    const chip = inRoom(alice, 'a message to change').locator('[data-testid="reaction"][data-reaction="👍"]');
    await chip.and(alice.locator('[data-count="1"]')).waitFor(WAIT);
    expect(await chip.getAttribute('title')).toBe('bob');
    // An edit in alice's composer: bob sees the new body, marked edited.
    await inRoom(alice, 'a message to change').getByTestId('edit-button').click();
    await alice.getByTestId('edit-banner').waitFor({ state: 'visible', ...WAIT });
    expect(await alice.getByTestId('message-input').inputValue()).toBe('a message to change');
    await alice.getByTestId('message-input').fill('an edited message');
    await alice.getByTestId('message-input').press('Enter');
    const edited = inRoom(bob, 'an edited message');
    await edited.getByTestId('edited').waitFor(WAIT);
    expect(await edited.locator('[data-testid="reaction"][data-reaction="👍"]').getAttribute('data-count')).toBe('1');
    // A thread: bob replies, alice sees the reply count and opens the thread.
    await edited.getByTestId('reply-button').click();
    await bob.getByTestId('thread').waitFor({ state: 'visible', ...WAIT });
    await bob.getByTestId('thread-input').fill('a reply in the thread');
    await bob.getByTestId('thread-input').press('Enter');
    await bob.getByTestId('thread-messages').getByTestId('message').filter({ hasText: 'a reply in the thread' }).waitFor(WAIT);
    const replies = inRoom(alice, 'an edited message').getByTestId('replies');
    await replies.filter({ hasText: '1 reply' }).waitFor(WAIT);
    await replies.click();
    await alice.getByTestId('thread-messages').getByTestId('message').filter({ hasText: 'a reply in the thread' }).waitFor(WAIT);
    expect(await inRoom(alice, 'a reply in the thread').count()).toBe(0);
    // Bob takes his reaction back; alice deletes her message: a tombstone for both.
    await edited.locator('[data-testid="reaction"][data-reaction="👍"]').click();
    await chip.waitFor({ state: 'detached', ...WAIT });
    await inRoom(alice, 'an edited message').getByTestId('delete-button').click();
    const tombstone = bob.getByTestId('messages').getByTestId('message').filter({ hasText: 'message deleted' });
    await tombstone.waitFor(WAIT);
    expect(await tombstone.getByTestId('message-from').textContent()).toBe('alice');
    await bob.getByTestId('thread').getByTestId('message-body').filter({ hasText: 'message deleted' }).waitFor(WAIT);
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await bob.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-changes.png') });
    await alice.getByTestId('thread-close').click();
    await bob.getByTestId('thread-close').click();
    await bob.getByTestId('thread').waitFor({ state: 'hidden', ...WAIT });
  });

  it('connection banner: "reconnecting…" while alice\'s network is down, then the page recovers', async () => {
    proxy.pause();
    expect(proxy.dropAll()).toBeGreaterThanOrEqual(1);
    const banner = alice.getByTestId('conn-banner');
    await banner.filter({ hasText: 'reconnecting…' }).waitFor({ state: 'visible', ...WAIT });
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await alice.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-reconnecting.png') });
    await bob.getByTestId('message-input').fill('sent while alice was away');
    await bob.getByTestId('message-input').press('Enter');
    await message(bob, 'sent while alice was away').waitFor(WAIT);
    proxy.resume();
    await banner.waitFor({ state: 'hidden', ...WAIT });
    await message(alice, 'sent while alice was away').waitFor(WAIT);
    expect(await alice.getByTestId('message').count()).toBe(await bob.getByTestId('message').count());
    await alice.getByTestId('message-input').fill('back online');
    await alice.getByTestId('message-input').press('Enter');
    await message(bob, 'back online').waitFor(WAIT);
    await member(alice, 'bob').waitFor(WAIT);
  });

  it('leaves a screenshot in test-results/chat.png and had no page errors', async () => {
    await alice.getByTestId('message-input').pressSequentially('one more thing');
    await bob.getByTestId('typing').filter({ hasText: 'alice is typing…' }).waitFor(WAIT);
    await alice.getByTestId('seen-by').filter({ hasText: 'seen by bob' }).waitFor(WAIT);
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await alice.screenshot({ path: SCREENSHOT });
    await bob.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-bob.png') });
    expect(pageErrors).toEqual([]);
  });
});
