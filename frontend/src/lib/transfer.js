// Export (download) and import (upload) of chats through /api/chats/export and /import.
import { api, qs, request } from './api.js';
import { reloadChats } from './chats.svelte.js';
import { toast, toastError } from './toasts.svelte.js';

function slug(text) {
  return (text || 'chat').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'chat';
}

/** Download all chats, or one (`chat`), as `json` (to import again) or `markdown` (to read). */
export async function exportChats({ chat = null, format = 'json' } = {}) {
  try {
    const res = await request('GET', '/api/chats/export' + qs({ chat_id: chat?.id, format }), undefined, { raw: true });
    const blob = await res.blob();
    const day = new Date().toISOString().slice(0, 10);
    const name = `omnichat-${chat ? slug(chat.title) : 'chats'}-${day}.${format === 'markdown' ? 'md' : 'json'}`;
    const url = URL.createObjectURL(blob);
    const a = Object.assign(document.createElement('a'), { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000); // the download has started by then
  } catch (err) {
    toastError(err, 'Could not export');
  }
}

/** Import the chats of an OmniChat JSON export file; says how many, or why not. */
export async function importChats(file) {
  let data;
  try {
    data = JSON.parse(await file.text());
  } catch {
    toast(`${file.name} is not an OmniChat export: it is not JSON.`, { kind: 'error' });
    return null;
  }
  if (data?.format !== 'omnichat.chats') {
    toast(`${file.name} is not an OmniChat export (use a JSON file from Export).`, { kind: 'error' });
    return null;
  }
  if (data.version !== 1) {
    toast(`${file.name} is an export of another version (${data.version}) that this server cannot read.`, { kind: 'error' });
    return null;
  }
  try {
    const result = await api.post('/api/chats/import', data);
    toast(`Imported ${result.imported} ${result.imported === 1 ? 'chat' : 'chats'}`, { kind: 'success' });
    await reloadChats();
    return result;
  } catch (err) {
    // The server's reason names the field (e.g. "chats.0.title: …"): said with the file's name.
    toastError(`Could not import ${file.name}: ${err?.message || 'the server refused it'}`);
    return null;
  }
}
