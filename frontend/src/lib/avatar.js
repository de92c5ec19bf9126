// The avatar a person picks on the account page (no upload): a colour behind their initial,
// or an emoji in its place. The same lists as the server's (omnichat/auth/preferences.py),
// which refuses anything else.
export const AVATAR_COLOURS = {
  red: '#dc2626',
  orange: '#ea580c',
  amber: '#b45309',
  green: '#15803d',
  teal: '#0f766e',
  blue: '#2563eb',
  indigo: '#4f46e5',
  purple: '#9333ea',
  pink: '#db2777',
  grey: '#4b5563',
};

export const AVATAR_EMOJI = ['😀', '😎', '🤓', '🙂', '🦊', '🐱', '🐶', '🐼', '🦉', '🐙', '🌻', '🌈', '🚀', '⭐', '🎧', '☕'];

/** The first letter of a person's name (or email), as the avatar shows it. */
export function initialOf(user) {
  return ((user && (user.name || user.email)) || '?').slice(0, 1).toUpperCase();
}
