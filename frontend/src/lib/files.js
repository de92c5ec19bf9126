// Files over REST (docs/documents.md): upload with progress, watch indexing, the bytes of an
// image as a blob: URL (the API wants the bearer token, so no bare <img src>), passages.
import config from './config.js';
import { ApiError, api, getToken } from './api.js';

// Above this, the direct-upload flow: the API is asked first (name and size: a file over the
// limit is refused before its bytes travel), then the bytes go to the URL it gives (S3's
// presigned POST in AWS, whose payload limit the API's own would not allow).
export const DIRECT_FROM = 4 * 1024 * 1024;
export const MAX_ATTACHMENTS = 10;
const DONE = new Set(['ready', 'failed']);

function errorFrom(xhr, fallback) {
  let data = null;
  try {
    data = JSON.parse(xhr.responseText || 'null');
  } catch {
    data = null;
  }
  const err = data?.error || {};
  if (xhr.status === 0) return new ApiError(0, 'network_error', 'The upload was interrupted. Check your connection.');
  return new ApiError(xhr.status, err.code || `http_${xhr.status}`, err.message || fallback, err.details);
}

/** POST a FormData with upload progress (0–1) → the parsed JSON answer (or null). */
function post(url, form, { onprogress, signal, auth = true } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    const token = getToken();
    if (auth && token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onprogress?.(e.loaded / e.total);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null);
        } catch {
          resolve(null); // S3 answers 204 (or XML): nothing to read
        }
      } else reject(errorFrom(xhr, `The upload was refused (${xhr.status}).`));
    };
    xhr.onerror = () => reject(errorFrom(xhr, 'The upload failed.'));
    xhr.onabort = () => reject(new DOMException('The upload was cancelled', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

/**
 * Upload one File → the file object (status `queued`, or `ready` for an image). `onprogress`
 * gets 0–1 as the bytes go; `onstarted` gets the file object as soon as the row exists (the
 * direct flow), so a cancelled upload can be deleted.
 */
export async function uploadFile(file, { collectionId = null, onprogress, onstarted, signal } = {}) {
  if (file.size <= DIRECT_FROM) {
    const form = new FormData();
    if (collectionId) form.append('collection_id', collectionId);
    form.append('file', file, file.name);
    return post(`${config.apiUrl}/api/files`, form, { onprogress, signal });
  }
  const started = await api.post('/api/files/uploads', { name: file.name, size: file.size, ...(collectionId ? { collection_id: collectionId } : {}) }, { signal });
  onstarted?.(started.file);
  const form = new FormData();
  for (const [k, v] of Object.entries(started.upload.fields || {})) form.append(k, v);
  form.append('file', file, file.name); // last: S3 ignores fields after the file
  const url = new URL(started.upload.url, new URL(config.apiUrl || location.origin, location.href)).href;
  await post(url, form, { onprogress, signal, auth: false }); // the signed form is the credential
  return api.post(`/api/files/${encodeURIComponent(started.file.id)}/complete`, {}, { signal });
}

export function getFile(id, opts) {
  return api.get(`/api/files/${encodeURIComponent(id)}`, opts);
}

export function deleteFile(id) {
  return api.del(`/api/files/${encodeURIComponent(id)}`);
}

export function isDone(file) {
  return DONE.has(file?.status);
}

/**
 * Poll a file until it is ready or failed: `onupdate(file)` on every answer. Returns a
 * function that stops watching.
 */
export function watchFile(id, onupdate) {
  let stopped = false;
  let timer = null;
  let delay = 500;
  async function tick() {
    if (stopped) return;
    try {
      const file = await getFile(id);
      if (stopped) return;
      onupdate(file);
      if (isDone(file)) return;
    } catch (err) {
      if (stopped) return;
      if (err.status === 404) return onupdate({ id, status: 'failed', error: 'The file was deleted.' });
      // A network blip: keep trying, a little slower.
    }
    delay = Math.min(delay * 1.3, 3000);
    timer = setTimeout(tick, delay);
  }
  timer = setTimeout(tick, 300);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// The bytes of files shown in the page (image thumbnails), as blob: URLs, kept for the page's
// life (a few, the oldest let go past the cap).
const blobs = new Map(); // id -> Promise<string>
const BLOB_CAP = 120;

export function fileBlobUrl(id) {
  let url = blobs.get(id);
  if (!url) {
    url = (async () => {
      const res = await api.get(`/api/files/${encodeURIComponent(id)}/content`, { raw: true });
      return URL.createObjectURL(await res.blob());
    })();
    url.catch(() => blobs.delete(id));
    blobs.set(id, url);
    if (blobs.size > BLOB_CAP) {
      const [oldest, promise] = blobs.entries().next().value;
      blobs.delete(oldest);
      promise.then((u) => URL.revokeObjectURL(u)).catch(() => {});
    }
  }
  return url;
}

/** Download a file (the API needs the token: fetched, then saved through a blob: link). */
export async function downloadFile(id, name) {
  const res = await api.get(`/api/files/${encodeURIComponent(id)}/content`, { raw: true });
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name || 'file';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function getPassage(fileId, chunkId, opts) {
  return api.get(`/api/files/${encodeURIComponent(fileId)}/passages/${encodeURIComponent(chunkId)}`, opts);
}

/** What a file's status says, in words: "Uploading 40%", "Indexing 12%", "Failed: …". */
export function statusText(item) {
  switch (item.status) {
    case 'uploading':
      return item.uploadProgress != null ? `Uploading ${Math.round(item.uploadProgress * 100)}%` : 'Uploading…';
    case 'queued':
      return 'Queued';
    case 'indexing':
      return item.progress ? `Indexing ${Math.round(item.progress)}%` : 'Indexing…';
    case 'ready':
      return 'Ready';
    case 'failed':
      return `Failed: ${item.error || 'unknown reason'}`;
    default:
      return item.status || '';
  }
}

export function looksLikeImage(file) {
  return /^image\//.test(file?.type || file?.content_type || '') || file?.kind === 'image';
}
