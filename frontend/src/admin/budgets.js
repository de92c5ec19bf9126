// The limits a budget may set, in the order the admin page shows them (the API's names).
export const LIMITS = [
  ['tokens_per_day', 'Tokens / day'],
  ['tokens_per_month', 'Tokens / month'],
  ['usd_per_day', 'USD / day'],
  ['usd_per_month', 'USD / month'],
  ['requests_per_minute', 'Requests / min'],
  ['concurrent_streams', 'Concurrent calls'],
];

export const PRICE_FIELDS = [
  ['input_per_mtok', 'Input'],
  ['output_per_mtok', 'Output'],
  ['cache_read_per_mtok', 'Cache read'],
  ['cache_write_per_mtok', 'Cache write'],
  ['gpu_hour', 'GPU-hour'],
];

const WHOLE = new Set(['tokens_per_day', 'tokens_per_month', 'requests_per_minute', 'concurrent_streams']);

/** Form text -> the API's body: blank is no limit (null); numbers as the API takes them. */
export function toLimits(form) {
  const body = {};
  for (const [name] of LIMITS) {
    const text = String(form[name] ?? '').trim();
    body[name] = text === '' ? null : WHOLE.has(name) ? Number.parseInt(text, 10) : Number(text);
  }
  return body;
}

export function toPrices(form) {
  const body = {};
  for (const [name] of PRICE_FIELDS) {
    const text = String(form[name] ?? '').trim();
    body[name] = text === '' ? null : Number(text);
  }
  return body;
}

/** "1,200 of 5,000" style text for a limit's use; "—" when there is no limit. */
export function usageText(budget, name) {
  const limit = budget.limits[name];
  if (limit === null || limit === undefined) return '—';
  const fmt = (v) => (name.startsWith('usd') ? `$${Number(v).toFixed(2)}` : Number(v).toLocaleString());
  return `${fmt(budget.used[name])} of ${fmt(limit)}`;
}
