// Who is signed in. The token lives in localStorage; /api/auth/me says who it belongs to.
import { api, getToken, setToken, onUnauthorized } from './api.js';
import { connect, disconnect } from './socket.svelte.js';
import { navigate } from './router.svelte.js';

const USER_KEY = 'omnichat.user';
export const session = $state({ user: null, ready: false });

function remember(user) {
  session.user = user;
  try {
    if (user) localStorage.setItem(USER_KEY, JSON.stringify(user));
    else localStorage.removeItem(USER_KEY);
  } catch {
    /* ignore */
  }
}

function remembered() {
  try {
    return JSON.parse(localStorage.getItem(USER_KEY) || 'null');
  } catch {
    return null;
  }
}

/** At start: show the page at once for the account seen last time (no round trip before
 * the first paint), and check the token with /api/auth/me meanwhile. */
export async function restore() {
  if (!getToken()) {
    remember(null);
    session.ready = true;
    return;
  }
  const cached = remembered();
  if (cached) {
    session.user = cached;
    session.ready = true;
    if (cached.role !== 'pending') connect();
  }
  try {
    const user = await api.get('/api/auth/me');
    const wasActive = session.user && session.user.role !== 'pending';
    remember(user);
    if (user.role !== 'pending' && !wasActive) connect();
    if (user.role === 'pending' && wasActive) disconnect();
  } catch (err) {
    if (err.status === 401) endSession();
  }
  session.ready = true;
}

function start(result) {
  setToken(result.access_token);
  remember(result.user);
  if (result.user.role !== 'pending') connect();
  return result.user;
}

export async function signIn(email, password) {
  return start(await api.post('/api/auth/signin', { email, password }));
}

/** Single sign-on: trade the one-time code the server's callback handed over for a session. */
export async function signInWithSsoCode(code) {
  return start(await api.post('/api/auth/sso/exchange', { code }));
}

// Sign-up answers the same whether the email was new or already had an account (so that it
// tells no one who is registered here); signing in with the same password is what tells.
export async function signUp(name, email, password) {
  await api.post('/api/auth/signup', { name, email, password });
  try {
    return await signIn(email, password);
  } catch (err) {
    if (err.code !== 'invalid_credentials') throw err;
    err.message = 'This email may already have an account: sign in with its password instead.';
    throw err;
  }
}

export async function signOut() {
  try {
    await api.post('/api/auth/signout');
  } catch {
    /* the token may already be gone: sign out locally anyway */
  }
  endSession();
  navigate('/', { replace: true });
}

export function endSession() {
  disconnect();
  setToken('');
  remember(null);
}

/** Change the name this person goes by. */
export async function rename(name) {
  remember(await api.patch('/api/auth/me', { name }));
}

/** Ask again whether a pending account has been approved. */
export async function refreshMe() {
  const user = await api.get('/api/auth/me');
  const wasPending = session.user?.role === 'pending';
  remember(user);
  if (wasPending && user.role !== 'pending') connect();
  return user;
}

onUnauthorized(() => {
  if (session.user) endSession();
});
