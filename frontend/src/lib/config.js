// Runtime configuration, fetched from /config.json (served next to index.html) so one
// build runs under `make local` and behind CloudFront. Empty values mean "same origin"
// for the API and "<same origin>/ws" for the WebSocket.

const config = { apiUrl: '', wsUrl: '' };

export async function loadConfig() {
  try {
    const res = await fetch('/config.json'); // preloaded by index.html
    if (res.ok) Object.assign(config, await res.json());
  } catch {
    // No config.json: same origin for everything.
  }
  config.apiUrl = String(config.apiUrl || '').replace(/\/+$/, '');
  if (!config.wsUrl) {
    const base = config.apiUrl ? new URL(config.apiUrl) : window.location;
    const scheme = base.protocol === 'https:' ? 'wss:' : 'ws:';
    config.wsUrl = `${scheme}//${base.host}/ws`;
  }
  return config;
}

export default config;
