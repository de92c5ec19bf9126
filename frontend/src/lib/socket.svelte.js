// The chat WebSocket (docs/websocket-protocol.md): a ticket from REST, then one socket
// that reconnects with backoff, queues frames while it is down, and re-sends sends and
// edits that were never acknowledged (they are idempotent on client_message_id).
// A socket can die silently (the network goes, nothing closes it): a heartbeat finds out.
// Every PING_EVERY_MS of silence, and when a send is not acknowledged within ACK_WITHIN_MS,
// the page pings; no answer within PONG_WITHIN_MS and the socket is given up for dead,
// the page says "Reconnecting…", and the unacknowledged sends go again on the next socket
// with the same client_message_id (the server answers a repeat `created: false`).
import config from './config.js';
import { api } from './api.js';
import { newId } from './ids.js';
import { toast, dismiss } from './toasts.svelte.js';

const MAX_FRAME_BYTES = 30_000; // API Gateway takes 32 KB frames: keep a margin
const PING_EVERY_MS = 20_000; // also keeps API Gateway (10 minutes idle) from dropping it
const ACK_WITHIN_MS = 3_000;
const PONG_WITHIN_MS = 6_000;
const RESENDABLE = new Set(['chat.send', 'chat.edit']);
const encoder = new TextEncoder();

export const connection = $state({ status: 'idle', attempts: 0, lastError: '' });

let ws = null;
let wanted = false;
let everOpened = false;
let reconnectTimer = null;
let pingTimer = null;
let pongTimer = null; // set while a ping waits for its answer
let lastHeard = 0; // when the socket last brought a frame
let lostToast = null; // the "connection lost" toast while it is up
const queue = []; // frames waiting for an open socket
const unacked = new Map(); // request_id -> frames (sends/edits) until their ack or error
const listeners = new Set();

export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(event) {
  for (const fn of listeners) {
    try {
      fn(event);
    } catch (err) {
      console.error('socket listener failed', err);
    }
  }
}

export function connect() {
  wanted = true;
  if (ws || reconnectTimer || connection.status === 'connecting') return;
  open();
}

export function disconnect() {
  wanted = false;
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  stopHeartbeat();
  queue.length = 0;
  unacked.clear();
  everOpened = false;
  if (lostToast !== null) dismiss(lostToast);
  lostToast = null;
  if (ws) {
    const old = ws;
    ws = null;
    old.close(1000, 'bye');
  }
  connection.status = 'idle';
  connection.attempts = 0;
}

async function open() {
  connection.status = connection.attempts > 0 ? 'reconnecting' : 'connecting';
  let ticket;
  try {
    ticket = (await api.post('/api/auth/ws-ticket')).ticket;
  } catch (err) {
    connection.lastError = err.message;
    if (err.status === 401 || err.status === 403) {
      // Signed out or not approved: nothing to reconnect to until that changes.
      connection.status = 'idle';
      wanted = false;
      return;
    }
    scheduleReconnect();
    return;
  }
  if (!wanted) return;
  const url = `${config.wsUrl}${config.wsUrl.includes('?') ? '&' : '?'}ticket=${encodeURIComponent(ticket)}&v=1`;
  let socket;
  try {
    socket = new WebSocket(url);
  } catch (err) {
    connection.lastError = String(err);
    scheduleReconnect();
    return;
  }
  ws = socket;
  socket.onopen = () => {
    if (ws !== socket) return;
    const reconnected = everOpened;
    everOpened = true;
    connection.status = 'open';
    connection.attempts = 0;
    connection.lastError = '';
    if (lostToast !== null) {
      dismiss(lostToast);
      lostToast = null;
      toast('Reconnected', { kind: 'success' });
    }
    startHeartbeat();
    // Unacknowledged sends first (they were sent before anything still queued).
    const pending = [...unacked.values()].flat();
    const queued = queue.splice(0);
    for (const frame of pending) raw(frame);
    for (const frame of queued) if (!pending.includes(frame)) raw(frame);
    emit({ type: 'socket.open', reconnected });
  };
  socket.onmessage = (msg) => {
    if (ws !== socket) return;
    heard();
    let event;
    try {
      event = JSON.parse(msg.data);
    } catch {
      return;
    }
    if (!event || typeof event !== 'object') return;
    if ((event.type === 'ack' && !event.part) || event.type === 'error') {
      if (event.request_id) unacked.delete(event.request_id);
    }
    emit(event);
  };
  socket.onclose = () => {
    if (ws !== socket) return;
    ws = null;
    stopHeartbeat();
    if (!wanted) {
      connection.status = 'idle';
      return;
    }
    emit({ type: 'socket.closed' });
    scheduleReconnect();
  };
  socket.onerror = () => {
    connection.lastError = 'The connection failed';
  };
}

// ---- heartbeat ----------------------------------------------------------------------------
function startHeartbeat() {
  stopHeartbeat();
  lastHeard = Date.now();
  pingTimer = setInterval(() => {
    if (Date.now() - lastHeard >= PING_EVERY_MS - 1000) probe();
  }, PING_EVERY_MS);
}

function stopHeartbeat() {
  clearInterval(pingTimer);
  clearTimeout(pongTimer);
  pingTimer = pongTimer = null;
}

function heard() {
  lastHeard = Date.now();
  clearTimeout(pongTimer);
  pongTimer = null;
}

/** Ask the server for a pong; any frame heard in time proves the socket alive. */
function probe() {
  if (!ws || ws.readyState !== WebSocket.OPEN || pongTimer) return;
  raw({ action: 'ping', request_id: newId('ping-') });
  pongTimer = setTimeout(dead, PONG_WITHIN_MS);
}

/** The socket stopped answering: drop it (its close may never come) and reconnect. */
function dead() {
  pongTimer = null;
  const socket = ws;
  if (!socket) return;
  ws = null;
  stopHeartbeat();
  connection.lastError = 'The connection stopped answering';
  try {
    socket.close(4000, 'no pong');
  } catch {
    /* already closing */
  }
  emit({ type: 'socket.closed' });
  scheduleReconnect();
}

function scheduleReconnect() {
  if (!wanted) return;
  connection.attempts += 1;
  connection.status = 'reconnecting';
  if (connection.attempts === 3 && lostToast === null) {
    // Said once, not per attempt; the header keeps showing "Reconnecting…".
    lostToast = toast('Lost the connection to the chat server. Reconnecting… (messages you send wait until it is back)', {
      kind: 'error',
      timeout: 0,
    });
  }
  // 0.5 s, 1 s, 2 s, 4 s ... capped at 15 s, with jitter so clients do not stampede.
  const base = Math.min(15_000, 500 * 2 ** (connection.attempts - 1));
  const delay = base / 2 + Math.random() * (base / 2);
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(() => {
    reconnectTimer = null;
    if (wanted && !ws) open();
  }, delay);
}

/** Reconnect now (e.g. the browser came back online), skipping the backoff wait. */
export function reconnectNow() {
  if (!wanted || ws) return;
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  open();
}

function raw(frame) {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

/** Send an action; returns its request_id. Large chat.send contents go in parts. */
export function send(frame) {
  const full = { request_id: newId('r-'), ...frame };
  const frames = full.action === 'chat.send' ? splitParts(full) : [full];
  if (RESENDABLE.has(full.action)) {
    unacked.set(full.request_id, frames);
    setTimeout(() => unacked.has(full.request_id) && probe(), ACK_WITHIN_MS);
  }
  for (const f of frames) {
    if (!raw(f)) {
      if (!RESENDABLE.has(full.action)) queue.push(f);
    }
  }
  if (wanted && !ws && !reconnectTimer && connection.status !== 'connecting') open();
  return full.request_id;
}

function bytes(frame) {
  return encoder.encode(JSON.stringify(frame)).length;
}

export function splitParts(frame) {
  if (bytes(frame) <= MAX_FRAME_BYTES) return [frame];
  const content = frame.content;
  let size = 8000;
  for (;;) {
    const chunks = [];
    for (let i = 0; i < content.length; ) {
      let end = Math.min(content.length, i + size);
      const last = content.charCodeAt(end - 1);
      if (end < content.length && last >= 0xd800 && last <= 0xdbff) end -= 1; // keep surrogate pairs whole
      chunks.push(content.slice(i, end));
      i = end;
    }
    const frames = chunks.map((text, index) => ({
      ...frame,
      content: text,
      part: { index, count: chunks.length },
    }));
    if (frames.every((f) => bytes(f) <= MAX_FRAME_BYTES) || size < 500) return frames;
    size = Math.floor(size / 2);
  }
}

if (typeof window !== 'undefined') {
  window.addEventListener('online', () => (ws ? probe() : reconnectNow()));
  window.addEventListener('offline', probe);
}
