// Pulling an Ollama model with live progress: over the WebSocket (`model.pull`), or, when
// the socket is down, over REST (`POST /api/models/pull`, NDJSON). Either way `onprogress`
// gets Ollama's progress objects and the promise settles when the pull ends.
import { api } from '../lib/api.js';
import { newId } from '../lib/ids.js';
import { connection, onEvent, send } from '../lib/socket.svelte.js';

export function pullModel(model, onprogress) {
  return connection.status === 'open' ? overSocket(model, onprogress) : overRest(model, onprogress);
}

function overSocket(model, onprogress) {
  return new Promise((resolve, reject) => {
    const requestId = newId('pull-');
    const off = onEvent((event) => {
      if (event.type === 'model.pull.progress' && event.model === model) {
        onprogress(event);
      } else if (event.type === 'model.pull.done' && event.model === model) {
        off();
        resolve();
      } else if (event.type === 'error' && (event.request_id === requestId || event.model === model)) {
        off();
        reject(new Error(event.message || 'The pull failed'));
      } else if (event.type === 'socket.closed') {
        off();
        reject(new Error('The connection dropped during the pull; it goes on on the server. Refresh the list in a moment.'));
      }
    });
    send({ action: 'model.pull', model, request_id: requestId });
  });
}

async function overRest(model, onprogress) {
  const res = await api.post('/api/models/pull', { model }, { raw: true });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    const lines = buffer.split('\n');
    buffer = lines.pop();
    for (const line of lines) {
      if (!line.trim()) continue;
      const event = JSON.parse(line);
      if (event.error) throw new Error(event.error.message || event.error);
      onprogress(event);
    }
    if (done) break;
  }
}
