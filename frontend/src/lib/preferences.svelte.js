// The signed-in person's own settings, kept on the server (GET/PATCH /api/auth/preferences)
// so they follow them to every browser: default model, theme, send on Enter, and the system
// prompt new chats start with, and the avatar.
import { api } from './api.js';
import { theme, setTheme } from './theme.svelte.js';
import { toastError } from './toasts.svelte.js';

export const prefs = $state({ loaded: false, failed: false, default_model: null, theme: null, send_on_enter: true, system_prompt: null, avatar: null });

export async function loadPreferences() {
  try {
    Object.assign(prefs, await api.get('/api/auth/preferences'), { loaded: true });
    // A theme chosen on another device wins; never chosen: this browser keeps its own.
    if (prefs.theme && prefs.theme !== theme.choice) setTheme(prefs.theme);
  } catch (err) {
    prefs.failed = true;
    toastError(err, 'Could not load your settings');
  }
}

/** Save some preferences; true when the server took them. */
export async function savePreferences(changes) {
  try {
    Object.assign(prefs, await api.patch('/api/auth/preferences', changes));
    return true;
  } catch (err) {
    toastError(err, 'Could not save your settings');
    return false;
  }
}

/** Set the theme here and remember it for every device. */
export function chooseTheme(choice) {
  setTheme(choice);
  savePreferences({ theme: choice });
}
