// A promise-returning confirmation dialog (window.confirm blocks and cannot be styled).
export const confirmState = $state({ open: false, title: '', message: '', confirmLabel: 'OK', danger: false });
let resolver = null;

export function confirmAction(title, { message = '', confirmLabel = 'Confirm', danger = false } = {}) {
  resolver?.(false);
  Object.assign(confirmState, { open: true, title, message, confirmLabel, danger });
  return new Promise((resolve) => (resolver = resolve));
}

export function settleConfirm(value) {
  confirmState.open = false;
  const r = resolver;
  resolver = null;
  r?.(value);
}
