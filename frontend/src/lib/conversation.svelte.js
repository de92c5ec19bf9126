// The open chat: its current branch of messages and everything that streams into it
// over the WebSocket (send, stop, regenerate, edit, resume, branch switching).
import { api, qs } from './api.js';
import { newId } from './ids.js';
import { onEvent, send as sendFrame } from './socket.svelte.js';
import { navigate } from './router.svelte.js';
import { toast, toastError } from './toasts.svelte.js';
import { setChatTitle, touchChat, upsertChat } from './chats.svelte.js';
import { defaultModel, loadModels, rememberModel } from './models.svelte.js';
import { prefs } from './preferences.svelte.js';

const PAGE = 50;

export const convo = $state({
  chatId: null, // null: a new chat, not saved until its first message
  chat: null,
  messages: [], // the current branch, oldest first
  hasMore: false,
  nextBefore: null,
  loading: false,
  loadingOlder: false,
  notFound: false,
  sending: false, // a send, edit or regenerate waits for its ack
  // Settings of a chat that does not exist yet; saved with its first message.
  draft: { model: '', system_prompt: '', temperature: null },
});

// request_id -> what the request was about, until its ack or error arrives.
const pending = new Map();
let loadToken = 0;

export function streamingMessage() {
  return convo.messages.find((m) => m.role === 'assistant' && m.status === 'streaming') || null;
}

export function isBusy() {
  return Boolean(streamingMessage()) || convo.sending;
}

function track(requestId, entry) {
  pending.set(requestId, entry);
  if (entry.blocks) convo.sending = true;
}

function untrack(requestId) {
  const entry = pending.get(requestId);
  pending.delete(requestId);
  convo.sending = [...pending.values()].some((p) => p.blocks && p.chatId === convo.chatId);
  return entry;
}

export function currentModel() {
  return convo.chat?.model || convo.draft.model || defaultModel();
}

function find(id) {
  return convo.messages.find((m) => m.id === id);
}

function indexOf(id) {
  return convo.messages.findIndex((m) => m.id === id);
}

function normalize(m) {
  return { ...m, sibling_ids: m.sibling_ids?.length ? m.sibling_ids : [m.id] };
}

// ---- opening chats ---------------------------------------------------------------------
// Shows chat `chatId` (null: a new one) with nothing in it yet; a load begun before no longer
// lands, and no older page is asked for with the previous chat's cursor. Returns the token
// of the load that may follow.
function switchTo(chatId, loading) {
  Object.assign(convo, { chatId, chat: null, messages: [], notFound: false, sending: false, loading,
                         hasMore: false, nextBefore: null });
  return ++loadToken;
}

export function newChat() {
  switchTo(null, false);
  convo.draft = { model: convo.draft.model || '', system_prompt: prefs.system_prompt || '', temperature: null };
}

/** Settings loaded after the new chat was set up: its draft takes the default system prompt. */
export function applyDraftDefaults() {
  if (convo.chatId === null && !convo.draft.system_prompt) convo.draft.system_prompt = prefs.system_prompt || '';
}

export async function openChat(id) {
  if (convo.chatId === id && (convo.chat || convo.loading)) return; // already open (e.g. just created)
  const mine = switchTo(id, true);
  try {
    const detail = await api.get(`/api/chats/${encodeURIComponent(id)}` + qs({ limit: PAGE }));
    if (mine !== loadToken) return;
    applyDetail(detail);
    resumeIfStreaming();
  } catch (err) {
    if (mine !== loadToken) return;
    if (err.status === 404) convo.notFound = true;
    else toastError(err, 'Could not open this chat');
  } finally {
    if (mine === loadToken) convo.loading = false;
  }
}

function applyDetail(detail) {
  convo.chat = detail.chat;
  convo.messages = detail.messages.map(normalize);
  convo.hasMore = detail.has_more;
  convo.nextBefore = detail.next_before;
}

export async function loadOlder() {
  if (!convo.hasMore || convo.loadingOlder || !convo.chatId) return;
  const mine = loadToken;
  convo.loadingOlder = true;
  try {
    const detail = await api.get(
      `/api/chats/${encodeURIComponent(convo.chatId)}` + qs({ limit: PAGE, before: convo.nextBefore }),
    );
    if (mine !== loadToken) return;
    const known = new Set(convo.messages.map((m) => m.id));
    convo.messages.unshift(...detail.messages.filter((m) => !known.has(m.id)).map(normalize));
    convo.hasMore = detail.has_more;
    convo.nextBefore = detail.next_before;
  } catch (err) {
    toastError(err, 'Could not load older messages');
  } finally {
    convo.loadingOlder = false;
  }
}

/** A page opened (or a socket reopened) while an answer streams: ask for the rest. */
function resumeIfStreaming() {
  const last = convo.messages[convo.messages.length - 1];
  if (last && last.role === 'assistant' && last.status === 'streaming') {
    sendFrame({ action: 'chat.resume', chat_id: convo.chatId, message_id: last.id });
  }
}

// ---- actions ---------------------------------------------------------------------------
/** Send a message; `files` (file objects: id, name, kind…) and `collections` ({id, name})
 * go with it as chat.send's `attachments` and `collections` (docs/documents.md). */
export function sendMessage(content, { files = [], collections = [] } = {}) {
  if (!content.trim() || isBusy()) return false;
  const model = currentModel();
  if (!model) {
    toast('Choose a model first: no model is available yet.', { kind: 'error' });
    return false;
  }
  const clientId = newId('c-');
  const parent = convo.messages[convo.messages.length - 1];
  const local = {
    id: `local-${clientId}`,
    parent_id: parent?.id ?? null,
    role: 'user',
    content,
    status: 'sending',
    sibling_ids: [`local-${clientId}`],
    created_at: new Date().toISOString(),
    attachments: files,
    collections,
  };
  convo.messages.push(local);
  const frame = { action: 'chat.send', content, client_message_id: clientId, model };
  if (files.length) frame.attachments = files.map((f) => f.id);
  if (collections.length) frame.collections = collections.map((c) => c.id);
  if (convo.chatId) {
    frame.chat_id = convo.chatId;
    if (parent) frame.parent_id = parent.id;
  } else {
    if (convo.draft.system_prompt.trim()) frame.system_prompt = convo.draft.system_prompt;
    if (convo.draft.temperature !== null) frame.params = { temperature: convo.draft.temperature };
  }
  rememberModel(model);
  const requestId = sendFrame(frame);
  track(requestId, { kind: 'send', localId: local.id, chatId: convo.chatId, blocks: true });
  return true;
}

export function stop() {
  const m = streamingMessage();
  if (!m || !convo.chatId || m.id.startsWith('local-')) return;
  m.stopping = true;
  const requestId = sendFrame({ action: 'chat.stop', chat_id: convo.chatId, message_id: m.id });
  track(requestId, { kind: 'stop', chatId: convo.chatId, messageId: m.id });
}

/** Answer again, with `model` (a compare) or the chat's own. */
export function regenerate(message, model = currentModel()) {
  if (isBusy() || !convo.chatId) return;
  // The question this answers: the message itself if it is a user message, else its parent.
  const qi = message.role === 'user' ? indexOf(message.id) : indexOf(message.parent_id);
  const old = convo.messages[qi + 1];
  const localId = `local-${newId('a-')}`;
  const removed = qi >= 0 ? convo.messages.splice(qi + 1) : [];
  if (qi >= 0) {
    const answer = placeholder(localId, convo.messages[qi].id, model);
    answer.sibling_ids = old?.role === 'assistant' ? [...old.sibling_ids, localId] : [localId];
    convo.messages.push(answer);
  }
  const requestId = sendFrame({ action: 'chat.regenerate', chat_id: convo.chatId, message_id: message.id, model: model || undefined });
  track(requestId, { kind: 'regenerate', chatId: convo.chatId, targetId: message.id, localId, removed, blocks: true });
}

export function editMessage(message, content) {
  if (isBusy() || !convo.chatId || !content.trim()) return false;
  const oi = indexOf(message.id);
  if (oi < 0) return false;
  const clientId = newId('c-');
  // Show the new version at once; the old branch comes back if the server refuses.
  const removed = convo.messages.splice(oi);
  const localId = `local-${clientId}`;
  convo.messages.push({
    id: localId,
    parent_id: message.parent_id,
    role: 'user',
    content,
    status: 'sending',
    sibling_ids: [...message.sibling_ids, localId],
  });
  const requestId = sendFrame({
    action: 'chat.edit',
    chat_id: convo.chatId,
    message_id: message.id,
    content,
    client_message_id: clientId,
    model: currentModel() || undefined,
  });
  track(requestId, { kind: 'edit', chatId: convo.chatId, originalId: message.id, localId, removed, blocks: true });
  return true;
}

export async function switchBranch(message, siblingId) {
  if (isBusy() || !convo.chatId || siblingId === message.id) return;
  const mine = loadToken;
  try {
    const detail = await api.post(`/api/chats/${encodeURIComponent(convo.chatId)}/switch` + qs({ limit: PAGE }), {
      message_id: siblingId,
    });
    if (mine !== loadToken) return;
    applyDetail(detail);
    resumeIfStreaming();
  } catch (err) {
    toastError(err, 'Could not switch to that version');
  }
}

export async function updateSettings(changes) {
  if (!convo.chatId) {
    if ('model' in changes) convo.draft.model = changes.model;
    if ('system_prompt' in changes) convo.draft.system_prompt = changes.system_prompt ?? '';
    if ('params' in changes) convo.draft.temperature = changes.params?.temperature ?? null;
    if (changes.model) rememberModel(changes.model);
    return;
  }
  const id = convo.chatId;
  try {
    const chat = await api.patch(`/api/chats/${encodeURIComponent(id)}`, changes);
    if (convo.chatId === id) convo.chat = chat;
    upsertChat(chat);
    if (changes.model) rememberModel(changes.model);
  } catch (err) {
    toastError(err, 'Could not save the chat settings');
  }
}

// ---- applying server events --------------------------------------------------------------
function placeholder(id, parentId, model) {
  return { id, parent_id: parentId, role: 'assistant', content: '', reasoning: '', status: 'streaming', model, sibling_ids: [id], created_at: new Date().toISOString() };
}

function ensureAnswer(event) {
  let m = find(event.message_id);
  if (!m && event.chat_id === convo.chatId) {
    const last = convo.messages[convo.messages.length - 1];
    if (last && last.role === 'user' && !last.id.startsWith('local-') && (!event.parent_id || event.parent_id === last.id)) {
      convo.messages.push(placeholder(event.message_id, last.id, event.model));
      m = find(event.message_id);
    }
  }
  return m;
}

/** Put `text` at `offset` of the answer: text already there is skipped, overlaps are kept once. */
function place(current, offset, text) {
  if (offset > current.length) return null; // a gap: we missed something
  if (offset + text.length <= current.length) return current; // seen already
  return current.slice(0, offset) + text;
}

function onAck(event) {
  const p = pending.get(event.request_id);
  if (!p || event.part) return;
  untrack(event.request_id);
  if (p.kind === 'send') ackSend(event, p);
  else if (p.kind === 'regenerate') ackRegenerate(event, p);
  else if (p.kind === 'edit') ackEdit(event, p);
}

function ackSend(event, p) {
  const wasNew = !p.chatId;
  if (wasNew && convo.chatId === null && find(p.localId)) {
    convo.chatId = event.chat_id;
    const now = new Date().toISOString();
    convo.chat = {
      id: event.chat_id,
      title: 'New chat',
      pinned: false,
      archived: false,
      model: currentModel(),
      system_prompt: convo.draft.system_prompt || null,
      params: convo.draft.temperature !== null ? { temperature: convo.draft.temperature } : {},
      created_at: now,
      updated_at: now,
    };
    upsertChat(convo.chat);
    navigate(`/c/${event.chat_id}`, { replace: true });
  }
  if (convo.chatId !== event.chat_id) return;
  touchChat(event.chat_id);
  const local = find(p.localId);
  if (local) {
    local.id = event.user_message_id;
    local.sibling_ids = [event.user_message_id];
    local.status = 'complete';
    if (Array.isArray(event.collections)) local.collections = event.collections; // with a preset's
  }
  if (!find(event.assistant_message_id)) {
    convo.messages.push(placeholder(event.assistant_message_id, event.user_message_id, currentModel()));
  }
}

function ackRegenerate(event, p) {
  if (convo.chatId !== event.chat_id) return;
  const local = find(p.localId);
  if (local) {
    local.id = event.assistant_message_id;
    local.sibling_ids = local.sibling_ids.map((id) => (id === p.localId ? event.assistant_message_id : id));
  } else if (!find(event.assistant_message_id)) {
    const qi = indexOf(event.user_message_id);
    if (qi < 0) return;
    convo.messages.splice(qi + 1);
    convo.messages.push(placeholder(event.assistant_message_id, event.user_message_id, currentModel()));
  }
  touchChat(event.chat_id);
}

function ackEdit(event, p) {
  if (convo.chatId !== event.chat_id) return;
  const local = find(p.localId);
  if (!local) return;
  local.id = event.user_message_id;
  local.status = 'complete';
  local.sibling_ids = local.sibling_ids.map((id) => (id === p.localId ? event.user_message_id : id));
  if (Array.isArray(event.collections)) local.collections = event.collections; // with a preset's
  if (!find(event.assistant_message_id)) {
    convo.messages.push(placeholder(event.assistant_message_id, event.user_message_id, currentModel()));
  }
  touchChat(event.chat_id);
}

function onDelta(event) {
  if (event.chat_id !== convo.chatId) return;
  const m = ensureAnswer(event);
  if (!m) return;
  if (m.stopping) {
    // Stop was clicked: nothing more is shown; the server's final text comes after message.done.
    m.held = true;
    return;
  }
  const next = place(m.content, event.offset ?? m.content.length, event.text || '');
  if (next === null) {
    // Frames went missing (e.g. across a reconnect): the snapshot puts it right.
    sendFrame({ action: 'chat.resume', chat_id: event.chat_id, message_id: event.message_id });
    return;
  }
  m.content = next;
  if (event.reasoning) m.reasoning = (m.reasoning || '') + event.reasoning;
}

function onSnapshot(event) {
  if (event.chat_id !== convo.chatId) return;
  const m = ensureAnswer(event);
  if (!m) return;
  const offset = event.offset ?? 0;
  // A snapshot is the server's truth: it replaces what we had from that offset on.
  m.content = (offset === 0 ? '' : m.content.slice(0, offset)) + (event.text || '');
  if (event.reasoning !== undefined && offset === 0) m.reasoning = event.reasoning || '';
  if (event.status) m.status = event.status;
  if (Array.isArray(event.sources)) m.sources = event.sources;
}

function onDone(event) {
  if (event.chat_id !== convo.chatId) return;
  const m = find(event.message_id);
  if (!m) return;
  m.status = event.status;
  m.stopping = false;
  if (event.usage) m.usage = event.usage;
  if (event.model) m.model = event.model; // a fallback's, when the asked model failed before its first token
  if (event.error) m.error = event.error; // shown in the chat, under the answer
  if (Array.isArray(event.sources)) m.sources = event.sources; // what the answer cites: [n] is sources' n
  if (m.held) {
    // Deltas were held back after Stop: the answer as the server saved it.
    m.held = false;
    sendFrame({ action: 'chat.resume', chat_id: event.chat_id, message_id: event.message_id });
  }
  if (convo.chat) convo.chat.updated_at = new Date().toISOString();
  touchChat(event.chat_id);
}

function onError(event) {
  if (String(event.request_id || '').startsWith('pull-')) return; // the admin's model pulls
  const p = event.request_id ? pending.get(event.request_id) : null;
  if (p) untrack(event.request_id);
  // The server's message is written for the person chatting (docs/websocket-protocol.md):
  // it is shown once, in the chat where the chat has a place for it, else as a toast.
  let shown = false;
  if (p?.kind === 'send') {
    const local = find(p.localId);
    if (local) {
      local.status = 'failed';
      local.error = event.message || 'The message was not sent.';
      shown = true;
    }
  }
  if (event.code === 'model_not_found') loadModels(); // disabled or hidden meanwhile: the picker says so
  if ((p?.kind === 'edit' || p?.kind === 'regenerate') && p.chatId === convo.chatId) {
    const li = indexOf(p.localId);
    if (li >= 0) convo.messages.splice(li, convo.messages.length - li, ...p.removed);
  }
  if (p?.kind === 'stop' && event.code === 'not_streaming') return; // it ended meanwhile
  if (event.code === 'not_streaming') return;
  const m = event.message_id ? find(event.message_id) : null;
  if (m && (m.status === 'streaming' || m.status === 'error') && event.code !== 'already_streaming') {
    m.status = 'error';
    m.error = { code: event.code, message: event.message };
    shown = true;
  }
  if (!shown) toast(event.message || 'Something went wrong', { kind: 'error' });
}

/** Resend a message whose send failed. */
export function retry(message) {
  const i = indexOf(message.id);
  if (i >= 0) convo.messages.splice(i);
  sendMessage(message.content, { files: message.attachments || [], collections: message.collections || [] });
}

onEvent((event) => {
  switch (event.type) {
    case 'ack':
      onAck(event);
      break;
    case 'message.started':
      if (event.chat_id === convo.chatId) ensureAnswer(event);
      break;
    case 'delta':
      onDelta(event);
      break;
    case 'message.snapshot':
      onSnapshot(event);
      break;
    case 'message.done':
      onDone(event);
      break;
    case 'chat.title':
      setChatTitle(event.chat_id, event.title);
      if (convo.chat && convo.chatId === event.chat_id) convo.chat.title = event.title;
      break;
    case 'error':
      onError(event);
      break;
    case 'socket.open':
      if (event.reconnected && convo.chatId) resumeIfStreaming();
      break;
  }
});
