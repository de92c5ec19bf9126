/** A random id for client_message_id / request_id (randomUUID needs a secure context). */
export function newId(prefix = '') {
  if (globalThis.crypto?.randomUUID) return prefix + crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
