// Toasts: every error the user should know about ends up here, never as a silent stall.
let nextId = 1;
export const toasts = $state([]);

export function toast(message, { kind = 'info', timeout } = {}) {
  const id = nextId++;
  // Identical toasts in a row are merged rather than stacked.
  const same = toasts.find((t) => t.message === message && t.kind === kind);
  if (same) dismiss(same.id);
  toasts.push({ id, message, kind });
  const ms = timeout ?? (kind === 'error' ? 8000 : 4000);
  if (ms > 0) setTimeout(() => dismiss(id), ms);
  return id;
}

export function toastError(err, fallback = 'Something went wrong') {
  const message = typeof err === 'string' ? err : err?.message || fallback;
  return toast(message, { kind: 'error' });
}

export function dismiss(id) {
  const i = toasts.findIndex((t) => t.id === id);
  if (i >= 0) toasts.splice(i, 1);
}
