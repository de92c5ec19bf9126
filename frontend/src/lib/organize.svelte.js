// The user's folders and tags of chats (/api/folders, /api/tags), and moving and tagging
// chats; the chat list (chats.svelte.js) filters by them.
import { api } from './api.js';
import { chatList, reloadChats } from './chats.svelte.js';
import { toastError } from './toasts.svelte.js';

export const labels = $state({ folders: [], tags: [] });

export async function loadLabels() {
  try {
    const [folders, tags] = await Promise.all([api.get('/api/folders'), api.get('/api/tags')]);
    labels.folders = folders;
    labels.tags = tags;
  } catch (err) {
    toastError(err, 'Could not load your folders and tags');
  }
}

export function folderName(id) {
  return labels.folders.find((f) => f.id === id)?.name ?? '';
}

export async function createFolder(name) {
  const folder = await api.post('/api/folders', { name });
  await loadLabels();
  return folder;
}

export async function renameFolder(id, name) {
  await api.patch(`/api/folders/${encodeURIComponent(id)}`, { name });
  await loadLabels();
}

/** Delete a folder: its chats stay, in no folder. */
export async function deleteFolder(id) {
  await api.del(`/api/folders/${encodeURIComponent(id)}`);
  for (const chat of chatList.items) if (chat.folder_id === id) chat.folder_id = null;
  if (chatList.folder === id) {
    chatList.folder = '';
    reloadChats();
  }
  await loadLabels();
}

/** Put chats in a folder (null: in none). */
export async function moveChats(ids, folderId) {
  await api.post('/api/chats/move', { chat_ids: ids, folder_id: folderId });
  for (const chat of chatList.items) if (ids.includes(chat.id)) chat.folder_id = folderId;
  if (chatList.folder) reloadChats(); // some may have left the folder in view
  await loadLabels();
}

function setTags(chatId, tags) {
  const chat = chatList.items.find((c) => c.id === chatId);
  if (chat) chat.tags = tags;
  loadLabels();
  return tags;
}

export async function addTag(chatId, tag) {
  const { tags } = await api.put(`/api/chats/${encodeURIComponent(chatId)}/tags/${encodeURIComponent(tag)}`);
  return setTags(chatId, tags);
}

export async function removeTag(chatId, tag) {
  const { tags } = await api.del(`/api/chats/${encodeURIComponent(chatId)}/tags/${encodeURIComponent(tag)}`);
  return setTags(chatId, tags);
}
