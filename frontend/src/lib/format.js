export function relativeTime(iso) {
  if (!iso) return '';
  const then = new Date(iso.endsWith('Z') || /[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + 'Z').getTime();
  const s = Math.round((Date.now() - then) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 7 * 86400) return `${Math.floor(s / 86400)} d ago`;
  return new Date(then).toLocaleDateString();
}

export function formatDate(iso) {
  if (!iso) return '—';
  return new Date(iso.endsWith('Z') || /[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + 'Z').toLocaleString();
}

export function formatBytes(n) {
  if (!n && n !== 0) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(n >= 10 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatNumber(n) {
  return new Intl.NumberFormat().format(n || 0);
}

export function compactNumber(n) {
  return new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 }).format(n || 0);
}

export function parseIso(iso) {
  return new Date(iso.endsWith('Z') || /[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + 'Z');
}

/** When a message was written, short: "14:05" today, "3 Dec, 14:05" before (local time). */
export function messageTime(iso) {
  if (!iso) return '';
  const d = parseIso(iso);
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === new Date().toDateString()) return time;
  const sameYear = d.getFullYear() === new Date().getFullYear();
  const day = d.toLocaleDateString(undefined, { day: 'numeric', month: 'short', ...(sameYear ? {} : { year: 'numeric' }) });
  return `${day}, ${time}`;
}

/** Output tokens per second of generation (after the first token, when the server timed it). */
export function tokensPerSecond(usage) {
  const ms = (usage?.duration_ms || 0) - (usage?.ttft_ms || 0);
  if (!usage?.output_tokens || ms <= 0) return null;
  return usage.output_tokens / (ms / 1000);
}

const DAY_MS = 86_400_000;

function startOfDay(d) {
  const day = new Date(d);
  day.setHours(0, 0, 0, 0);
  return day;
}

/** The sidebar group of a chat last active at `iso`: Today, Yesterday, Previous 7 days,
 * Previous 30 days, then its month ("October 2026"), in local time. */
export function dayGroup(iso, now = new Date()) {
  const d = parseIso(iso);
  // Rounded: a day across a daylight-saving change is 23 or 25 hours long.
  const days = Math.round((startOfDay(now) - startOfDay(d)) / DAY_MS);
  if (days <= 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days <= 7) return 'Previous 7 days';
  if (days <= 30) return 'Previous 30 days';
  return d.toLocaleDateString(undefined, { month: 'long', year: 'numeric' });
}

/** Chats (newest first) as [{label, chats}] by dayGroup, each label once, in order of appearance. */
export function groupByDay(chats, now = new Date()) {
  const groups = new Map();
  for (const chat of chats) {
    const label = dayGroup(chat.updated_at, now);
    if (!groups.has(label)) groups.set(label, { label, chats: [] });
    groups.get(label).chats.push(chat);
  }
  return [...groups.values()];
}
