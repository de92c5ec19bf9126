// Shapes GET /api/admin/usage rows into chart series.
//
// GET /api/admin/usage?days=N answers (UTC days):
//   {"since": "YYYY-MM-DD", "days": N,
//    "by_model": [{"date", "model", "calls", "input_tokens", "output_tokens", "cache_read_tokens",
//                  "cache_write_tokens", "saved_input_tokens"}],
//    "by_user":  [{"date", "user" (email), "user_id", the same counts}]}
// input_tokens are the uncached ones; saved_input_tokens is what prompt caching saved, in
// input-token equivalents (docs/gateway.md, "Caching").
import { modelLabel } from '../lib/models.svelte.js';

export const COLORS = ['#4c6ef5', '#12b886', '#f59f00', '#e64980', '#7950f2', '#15aabf', '#868e96'];
const MAX_SERIES = 6;

export function dateRange(start, end) {
  const out = [];
  const d = new Date(start + 'T00:00:00Z');
  const last = new Date(end + 'T00:00:00Z');
  while (d <= last && out.length < 400) {
    out.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}

/** {dates, series: [{key, label, color, values[], total}], totals: [...]} */
export function buildSeries(data, by) {
  const rows = (by === 'user' ? data.by_user : data.by_model) || [];
  const keyOf = (r) => (by === 'user' ? r.user_id : r.model);
  // A model goes by the display name the picker and the chats show (models.svelte.js).
  const labelOf = (r) => (by === 'user' ? r.user || r.email || r.user_id || 'unknown' : modelLabel(r.model) || 'unknown');
  const days = data.days || 30;
  const start = data.since || data.start || new Date(Date.now() - (days - 1) * 86400e3).toISOString().slice(0, 10);
  const end = data.end || new Date(Date.parse(start + 'T00:00:00Z') + (days - 1) * 86400e3).toISOString().slice(0, 10);
  const dates = dateRange(start, end);
  const index = new Map(dates.map((d, i) => [d, i]));

  const totals = new Map();
  for (const r of rows) {
    const k = keyOf(r) ?? 'unknown';
    const t = totals.get(k) || { key: k, label: labelOf(r), requests: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0, saved: 0 };
    t.requests += r.calls ?? r.requests ?? 0;
    t.input += r.input_tokens || 0;
    t.output += r.output_tokens || 0;
    t.cacheRead += r.cache_read_tokens || 0;
    t.cacheWrite += r.cache_write_tokens || 0;
    t.saved += r.saved_input_tokens || 0;
    totals.set(k, t);
  }
  const all = (t) => t.input + t.output + t.cacheRead + t.cacheWrite;
  const ranked = [...totals.values()].sort((a, b) => all(b) - all(a));
  const top = ranked.slice(0, MAX_SERIES);
  const topKeys = new Set(top.map((t) => t.key));
  const series = top.map((t, i) => ({ key: t.key, label: t.label, color: COLORS[i], values: dates.map(() => 0) }));
  const other = { key: '__other', label: 'Other', color: COLORS[6], values: dates.map(() => 0) };
  for (const r of rows) {
    const i = index.get(r.date);
    if (i === undefined) continue;
    // Every token the calls took in or gave out, whether the prompt cache held it or not.
    const tokens = (r.input_tokens || 0) + (r.output_tokens || 0) + (r.cache_read_tokens || 0) + (r.cache_write_tokens || 0);
    const k = keyOf(r) ?? 'unknown';
    const s = topKeys.has(k) ? series.find((x) => x.key === k) : other;
    s.values[i] += tokens;
  }
  if (other.values.some((v) => v > 0)) series.push(other);
  return { dates, series, totals: ranked };
}

export function niceMax(value) {
  if (value <= 0) return 10;
  const p = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= value) return m * p;
  return 10 * p;
}
