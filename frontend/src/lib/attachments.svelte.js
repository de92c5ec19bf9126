// What the next message takes along: the files attached in the composer (uploaded at once,
// then watched until indexed) and the knowledge collections chosen with `#`.
import { deleteFile, looksLikeImage, MAX_ATTACHMENTS, uploadFile, watchFile } from './files.js';
import { toast } from './toasts.svelte.js';

let nextKey = 1;
// items: { key, name, size, image, preview (blob: URL of the local file, images), status
// ('uploading' | 'queued' | 'indexing' | 'ready' | 'failed'), uploadProgress 0–1, progress
// 0–100 (indexing), error, id (once the server has the row) }
export const draftFiles = $state({ items: [], collections: [] });
const controls = new Map(); // key -> { abort: AbortController, unwatch }

function item(key) {
  return draftFiles.items.find((i) => i.key === key);
}

function apply(key, file) {
  const it = item(key);
  if (!it || !file) return;
  it.id = file.id ?? it.id;
  it.status = file.status ?? it.status;
  it.progress = file.progress ?? it.progress;
  it.error = file.error ?? (file.status === 'failed' ? it.error : '');
  if (file.kind) it.image = file.kind === 'image';
  if (file.content_type) it.content_type = file.content_type;
}

/** Attach files (the paperclip, a drop, a paste). */
export function addFiles(list) {
  const files = [...(list || [])].filter((f) => f && typeof f.size === 'number');
  if (!files.length) return;
  const room = MAX_ATTACHMENTS - draftFiles.items.length;
  if (files.length > room) {
    toast(`A message takes at most ${MAX_ATTACHMENTS} files${room > 0 ? `: the first ${room} were attached` : ''}.`, { kind: 'error' });
  }
  for (const file of files.slice(0, Math.max(room, 0))) start(file);
}

function start(file) {
  const key = nextKey++;
  const image = looksLikeImage(file);
  draftFiles.items.push({
    key,
    name: file.name || (image ? 'pasted image.png' : 'file'),
    size: file.size,
    image,
    content_type: file.type || '',
    preview: image ? URL.createObjectURL(file) : '',
    status: 'uploading',
    uploadProgress: 0,
    progress: 0,
    error: '',
    id: null,
  });
  const abort = new AbortController();
  controls.set(key, { abort, unwatch: null });
  uploadFile(file, {
    signal: abort.signal,
    onprogress: (p) => {
      const it = item(key);
      if (it) it.uploadProgress = p;
    },
    onstarted: (f) => {
      const it = item(key);
      if (it) it.id = f.id;
    },
  }).then(
    (uploaded) => {
      if (!item(key)) return;
      apply(key, uploaded);
      if (uploaded.status !== 'ready' && uploaded.status !== 'failed') {
        const c = controls.get(key);
        if (c) c.unwatch = watchFile(uploaded.id, (f) => apply(key, f));
      }
    },
    (err) => {
      if (err?.name === 'AbortError') return;
      const it = item(key);
      if (!it) return;
      it.status = 'failed';
      it.error = err?.message || 'The upload failed.';
      it.code = err?.code || '';
    },
  );
}

/** Take a file off the message (before sending): its upload stops and the server forgets it. */
export function removeFile(key) {
  const i = draftFiles.items.findIndex((it) => it.key === key);
  if (i < 0) return;
  const [it] = draftFiles.items.splice(i, 1);
  const c = controls.get(key);
  controls.delete(key);
  c?.abort.abort();
  c?.unwatch?.();
  if (it.preview) URL.revokeObjectURL(it.preview);
  if (it.id) deleteFile(it.id).catch(() => {});
}

export function addCollection(collection) {
  if (!draftFiles.collections.some((c) => c.id === collection.id)) {
    draftFiles.collections.push({ id: collection.id, name: collection.name });
  }
}

export function removeCollection(id) {
  draftFiles.collections = draftFiles.collections.filter((c) => c.id !== id);
}

/** Why the message cannot be sent yet ('' when it can). */
export function notReady() {
  const items = draftFiles.items;
  if (items.some((it) => it.status === 'failed')) return 'Remove the files that failed before sending.';
  const waiting = items.filter((it) => it.status !== 'ready').length;
  if (waiting) return `Waiting for ${waiting === 1 ? '1 file' : `${waiting} files`} to be ready…`;
  return '';
}

/** The attachments and collections for chat.send (the composer keeps them until clearDraft). */
export function peekDraft() {
  const files = draftFiles.items.map((it) => ({
    id: it.id,
    name: it.name,
    size: it.size,
    kind: it.image ? 'image' : 'document',
    content_type: it.content_type,
  }));
  return { files, collections: draftFiles.collections.map((c) => ({ ...c })) };
}

/** The message went: the composer starts empty (the files stay on the server, with it). */
export function clearDraft() {
  for (const it of draftFiles.items) {
    controls.get(it.key)?.unwatch?.();
    controls.delete(it.key);
    if (it.preview) setTimeout(() => URL.revokeObjectURL(it.preview), 0);
  }
  draftFiles.items = [];
  draftFiles.collections = [];
}
