// Knowledge collections (GET/POST /api/collections, PATCH/DELETE /api/collections/{id}):
// the Knowledge page and the composer's `#` picker read the same list.
import { api } from './api.js';

export const knowledge = $state({ collections: [], loaded: false, loading: false, error: '' });
let inflight = null;
let version = 0; // bumped by every change made here: a list fetched before one is stale

export function loadCollections() {
  inflight ??= (async () => {
    knowledge.loading = true;
    try {
      let list;
      let seen;
      do {
        seen = version;
        list = await api.get('/api/collections');
      } while (seen !== version); // created, renamed or deleted meanwhile: ask again
      knowledge.collections = Array.isArray(list) ? list : list?.collections || list?.items || [];
      knowledge.error = '';
    } catch (err) {
      knowledge.error = err?.message || 'Could not load the collections.';
    } finally {
      knowledge.loaded = true;
      knowledge.loading = false;
      inflight = null;
    }
  })();
  return inflight;
}

export async function createCollection(name, description = '') {
  const body = { name };
  if (description) body.description = description;
  const made = await api.post('/api/collections', body);
  version += 1;
  knowledge.collections = [...knowledge.collections.filter((c) => c.id !== made.id), made].sort((a, b) => a.name.localeCompare(b.name));
  return made;
}

export async function renameCollection(id, name) {
  const changed = await api.patch(`/api/collections/${encodeURIComponent(id)}`, { name });
  version += 1;
  knowledge.collections = knowledge.collections.map((c) => (c.id === id ? { ...c, ...changed } : c));
  return changed;
}

export async function deleteCollection(id) {
  await api.del(`/api/collections/${encodeURIComponent(id)}`);
  version += 1;
  knowledge.collections = knowledge.collections.filter((c) => c.id !== id);
}
