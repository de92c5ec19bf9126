// Keyboard shortcuts of the whole page, one table: the help dialog lists the same entries.
// Mod is Ctrl, or ⌘ on a Mac. Esc (stop an answer, close a dialog) and ↑ in an empty composer
// (edit the last message) belong to the chat view and the composer.
export const IS_MAC = typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform || '');
const MOD = IS_MAC ? '⌘' : 'Ctrl';

export const SHORTCUTS = [
  { keys: [MOD, 'Shift', 'O'], label: 'New chat', action: 'newChat' },
  { keys: [MOD, 'K'], label: 'Search chats', action: 'search' },
  { keys: ['Shift', 'Esc'], label: 'Focus the message box', action: 'focusComposer' },
  { keys: ['↑'], label: 'Edit your last message (in an empty message box)' },
  { keys: [MOD, 'Shift', 'C'], label: 'Copy the last answer', action: 'copyLast' },
  { keys: ['Esc'], label: 'Stop the answer' },
  { keys: [MOD, '/'], label: 'Show the keyboard shortcuts', action: 'help' },
];

/** The action a keydown asks for, or null. */
export function shortcutFor(event) {
  const mod = IS_MAC ? event.metaKey : event.ctrlKey;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (mod && event.shiftKey && key === 'o') return 'newChat';
  if (mod && !event.shiftKey && key === 'k') return 'search';
  if (mod && event.shiftKey && key === 'c') return 'copyLast';
  if (mod && key === '/') return 'help';
  if (!mod && event.shiftKey && key === 'Escape') return 'focusComposer';
  return null;
}
