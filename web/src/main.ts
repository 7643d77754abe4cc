/**
 * The demo chat page (served in dev mode at `/`): pick a name, get a dev token from
 * `POST /dev/token`, chat in rooms over the Parley SDK. Built by scripts/build-web.mjs.
 */
import { ChatApp, ROOM_PATTERN } from './app.js';
import { ChatView } from './view.js';

/** A token from the dev-mode endpoint; `getToken` calls this again for every refresh. */
async function devToken(user: string): Promise<string> {
  const res = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  const answer = (await res.json().catch(() => ({}))) as { token?: unknown; error?: { message?: unknown } };
  if (!res.ok || typeof answer.token !== 'string') {
    const why = typeof answer.error?.message === 'string' ? answer.error.message : `HTTP ${res.status}`;
    throw new Error(`no dev token (${why}): is the server in dev mode?`);
  }
  return answer.token;
}

const view = new ChatView();
let app: ChatApp | undefined;

const params = new URLSearchParams(location.search);
view.loginName.value = params.get('user') ?? '';
view.loginRoom.value = params.get('room') ?? 'lobby';

async function login(): Promise<void> {
  const user = view.loginName.value.trim();
  const room = view.loginRoom.value.trim() || 'lobby';
  if (user === '' || user.length > 128) return fail('your name: 1-128 characters');
  if (!ROOM_PATTERN.test(room)) return fail('a room name is 1-128 chars of A-Z a-z 0-9 _ . : @ -');
  view.loginButton.disabled = true;
  let first: string | undefined;
  try {
    first = await devToken(user);
  } catch (err) {
    view.loginButton.disabled = false;
    return fail(err instanceof Error ? err.message : String(err));
  }
  // The first connection uses the token just checked; reconnects and refreshes fetch new ones.
  const getToken = (): Promise<string> => {
    const token = first;
    first = undefined;
    return token !== undefined ? Promise.resolve(token) : devToken(user);
  };
  app = new ChatApp(location.origin, user, getToken, view);
  view.showChat(user);
  view.input.focus();
  await app.join(room);
}

function fail(message: string): void {
  view.loginError.textContent = message;
  view.loginError.hidden = false;
}

view.loginForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void login();
});

view.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const room = view.joinRoom.value.trim();
  if (room === '' || !app) return;
  view.joinRoom.value = '';
  void app.join(room);
});

view.roomList.addEventListener('click', (event) => {
  const button = (event.target as Element | null)?.closest('button');
  const room = button?.dataset['room'];
  if (!app || !button || room === undefined) return;
  if (button.dataset['testid'] === 'leave-button') void app.leave(room);
  else app.activate(room);
});

view.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const body = view.input.value;
  if (!app || body.trim() === '') return;
  view.input.value = '';
  view.showError('');
  void app.send(body);
});

view.input.addEventListener('input', () => {
  if (!app?.changes.editing) app?.typed(view.input.value);
});

/** Clicks on a message's buttons (data-action, data-seq), in the room and in the thread panel. */
function onMessageAction(event: Event): void {
  const button = (event.target as Element | null)?.closest<HTMLElement>('[data-action]');
  const seq = Number(button?.dataset['seq']);
  if (!app || !button || !Number.isInteger(seq)) return;
  const changes = app.changes;
  switch (button.dataset['action']) {
    case 'toggle-reaction':
      void changes.toggleReaction(seq, button.dataset['reaction'] ?? '');
      return;
    case 'edit':
      changes.startEdit(seq);
      return;
    case 'delete':
      void changes.remove(seq);
      return;
    case 'open-thread':
      void changes.openThread(seq);
      return;
  }
}

view.messages.addEventListener('click', onMessageAction);
view.thread.addEventListener('click', onMessageAction);
view.editCancel.addEventListener('click', () => app?.changes.cancelEdit());
view.threadClose.addEventListener('click', () => app?.changes.closeThread());
view.threadForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const body = view.threadInput.value;
  if (!app || body.trim() === '') return;
  view.threadInput.value = '';
  void app.changes.reply(body);
});
view.input.addEventListener('blur', () => app?.stopTyping());
view.loadOlder.addEventListener('click', () => void app?.loadOlder());
view.scroller.addEventListener('scroll', () => app?.markRead(), { passive: true });
document.addEventListener('visibilitychange', () => app?.markRead());
window.addEventListener('pagehide', () => void app?.close());
