// The sidebar's chat list: pages of /api/chats (pinned first, newest first), search,
// the archive, and the edits made from the sidebar.
import { api, qs } from './api.js';
import { toastError } from './toasts.svelte.js';

const PAGE = 30;
export const chatList = $state({
  items: [],
  cursor: null,
  done: false,
  loading: false,
  q: '',
  archived: false,
  folder: '', // '' every folder, 'none' no folder, or a folder's id
  tag: '',
});
let generation = 0;

export function resetList() {
  generation += 1;
  chatList.items = [];
  chatList.cursor = null;
  chatList.done = false;
  chatList.loading = false;
}

export async function reloadChats() {
  resetList();
  await loadMoreChats();
}

export async function loadMoreChats() {
  if (chatList.loading || chatList.done) return;
  const mine = generation;
  chatList.loading = true;
  try {
    const page = await api.get(
      '/api/chats' +
        qs({
          limit: PAGE,
          cursor: chatList.cursor,
          q: chatList.q.trim(),
          archived: chatList.archived || undefined,
          folder_id: chatList.folder,
          tag: chatList.tag,
        }),
    );
    if (mine !== generation) return;
    const known = new Set(chatList.items.map((c) => c.id));
    chatList.items.push(...page.chats.filter((c) => !known.has(c.id)));
    chatList.cursor = page.next_cursor;
    chatList.done = !page.next_cursor;
  } catch (err) {
    if (mine === generation) {
      chatList.done = true;
      toastError(err, 'Could not load your chats');
    }
  } finally {
    if (mine === generation) chatList.loading = false;
  }
}

function order(a, b) {
  if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
  return a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0;
}

/** Insert or update a chat in the list (when it belongs in the current view). */
export function upsertChat(chat) {
  const i = chatList.items.findIndex((c) => c.id === chat.id);
  const belongs = Boolean(chat.archived) === chatList.archived && !chatList.q;
  if (i >= 0) {
    if (!belongs && Boolean(chat.archived) !== chatList.archived) {
      chatList.items.splice(i, 1);
      return;
    }
    chatList.items[i] = { ...chatList.items[i], ...chat };
  } else if (belongs && !chatList.folder && !chatList.tag) {
    chatList.items.push(chat);
  } else {
    return;
  }
  chatList.items.sort(order);
}

export function touchChat(id) {
  const chat = chatList.items.find((c) => c.id === id);
  if (chat) upsertChat({ ...chat, updated_at: new Date().toISOString() });
}

export function setChatTitle(id, title) {
  const chat = chatList.items.find((c) => c.id === id);
  if (chat) chat.title = title;
}

export async function updateChat(id, changes) {
  const chat = await api.patch(`/api/chats/${encodeURIComponent(id)}`, changes);
  upsertChat(chat);
  return chat;
}

export async function deleteChat(id) {
  await api.del(`/api/chats/${encodeURIComponent(id)}`);
  const i = chatList.items.findIndex((c) => c.id === id);
  if (i >= 0) chatList.items.splice(i, 1);
}

/** Apply `changes` (e.g. {archived: true}) to several chats; the ids that failed. */
export async function updateChats(ids, changes) {
  const failed = [];
  for (const id of ids) {
    try {
      await updateChat(id, changes);
    } catch {
      failed.push(id);
    }
  }
  return failed;
}

/** Delete several chats; the ids that failed. */
export async function deleteChats(ids) {
  const failed = [];
  for (const id of ids) {
    try {
      await deleteChat(id);
    } catch {
      failed.push(id);
    }
  }
  return failed;
}
