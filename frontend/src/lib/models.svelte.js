// The model catalog as this user may use it, grouped by provider for the picker.
import { api, qs } from './api.js';
import { toastError } from './toasts.svelte.js';
import { prefs } from './preferences.svelte.js';

const LAST_KEY = 'omnichat.model';
const NAMES_KEY = 'omnichat.modelNames'; // id -> display name of every model seen, for models gone since
const PROVIDERS = { ollama: 'Ollama', bedrock: 'Bedrock', preset: 'Presets' }; // presets: custom models

export const catalog = $state({ models: [], unavailable: {}, loaded: false, loading: false });

let loadedAt = 0;
let lastLoad = 0; // the newest load's number: an older one finishing later answers nothing

export async function loadModels({ refresh = false } = {}) {
  const load = ++lastLoad;
  catalog.loading = true;
  loadedAt = Date.now();
  try {
    const data = await api.get('/api/models' + qs({ refresh: refresh || undefined }));
    if (load !== lastLoad) return; // begun before a change that a newer load has seen
    catalog.models = data.models;
    catalog.unavailable = data.unavailable || {};
    catalog.loaded = true;
    rememberNames(data.models);
  } catch (err) {
    toastError(err, 'Could not load the models');
  } finally {
    if (load === lastLoad) catalog.loading = false;
  }
}

export function providerLabel(provider) {
  return PROVIDERS[provider] || provider.charAt(0).toUpperCase() + provider.slice(1);
}

/** Models that can chat: enabled, and not an embedding-only model (all-minilm and the like). */
export function usableModels() {
  return catalog.models.filter((m) => m.enabled && !m.details?.capabilities?.every((c) => c === 'embedding'));
}

/** [{provider, label, models}] in a stable order: Ollama, Bedrock, then others. */
export function groupedModels(models = usableModels()) {
  const groups = new Map();
  for (const m of models) {
    if (!groups.has(m.provider)) groups.set(m.provider, []);
    groups.get(m.provider).push(m);
  }
  const rank = (p) => (p in PROVIDERS ? Object.keys(PROVIDERS).indexOf(p) : 99);
  return [...groups.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([provider, list]) => ({
      provider,
      label: providerLabel(provider),
      models: list.sort((a, b) => modelName(a).localeCompare(modelName(b))),
    }));
}

export function modelName(m) {
  return m.display_name || m.name || m.id;
}

function knownNames() {
  try {
    return JSON.parse(localStorage.getItem(NAMES_KEY) || '{}') || {};
  } catch {
    return {};
  }
}

function rememberNames(models) {
  try {
    const names = knownNames();
    for (const m of models) names[m.id] = modelName(m);
    localStorage.setItem(NAMES_KEY, JSON.stringify(names));
  } catch {
    /* ignore */
  }
}

/** A model's display name; for one no longer listed, the name it had when last seen, else
 * its id made readable (`ollama/llama3.2:latest` → `llama3.2`). */
export function modelLabel(id) {
  if (!id) return '';
  const m = catalog.models.find((x) => x.id === id);
  if (m) return modelName(m);
  return knownNames()[id] || id.replace(/^[a-z]+\//, '').replace(/:latest$/, '');
}

/** Whether this user can chat with the model now (false while the catalog loads). */
export function modelUsable(id) {
  return usableModels().some((m) => m.id === id);
}

export function lastModel() {
  try {
    return localStorage.getItem(LAST_KEY) || '';
  } catch {
    return '';
  }
}

export function rememberModel(id) {
  try {
    localStorage.setItem(LAST_KEY, id);
  } catch {
    /* ignore */
  }
}

/** The model a new chat starts with: the one chosen in the settings, else the last one
 * used, if still there; else the first. */
export function defaultModel() {
  const last = lastModel();
  if (!catalog.loaded) return prefs.default_model || last; // still loading: the best guess
  const usable = usableModels();
  if (prefs.default_model && usable.some((m) => m.id === prefs.default_model)) return prefs.default_model;
  if (usable.some((m) => m.id === last)) return last;
  return groupedModels(usable)[0]?.models[0]?.id || '';
}

// Back to the page after a while: the catalog may have changed (a model disabled meanwhile).
if (typeof window !== 'undefined') {
  window.addEventListener('focus', () => {
    if (catalog.loaded && !catalog.loading && Date.now() - loadedAt > 30_000) loadModels();
  });
}
