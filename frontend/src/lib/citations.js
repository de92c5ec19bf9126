// A Svelte action for a finished answer with sources: each `[n]` (also `[1, 2]`, `[1][2]`) in
// its text, outside code and links, whose n is a source becomes a button that opens the
// cited passage. The buttons are made with the DOM (no HTML): nothing of the answer's text
// is parsed again. Run again when the rendered blocks change (math loading re-renders them).
const MARKER = /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g;
const SKIP = new Set(['CODE', 'PRE', 'A', 'BUTTON', 'KBD', 'SCRIPT', 'STYLE']);

function skipped(node, root) {
  for (let el = node.parentElement; el && el !== root; el = el.parentElement) {
    if (SKIP.has(el.tagName) || el.classList.contains('katex')) return true;
  }
  return false;
}

function mark(root, state) {
  const { sources } = state.params;
  if (!sources?.length) return;
  const byN = new Map(sources.map((s) => [Number(s.n), s]));
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    MARKER.lastIndex = 0;
    if (MARKER.test(node.data) && !skipped(node, root)) found.push(node);
  }
  for (const node of found) {
    const text = node.data;
    const frag = document.createDocumentFragment();
    let last = 0;
    MARKER.lastIndex = 0;
    for (let m = MARKER.exec(text); m; m = MARKER.exec(text)) {
      const ns = m[1].split(',').map((x) => Number(x.trim()));
      if (!ns.every((n) => byN.has(n))) continue;
      frag.append(text.slice(last, m.index));
      ns.forEach((n) => {
        const s = byN.get(n);
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'cite';
        b.textContent = String(n);
        b.dataset.n = String(n);
        b.setAttribute('aria-label', `Source ${n}: ${s.file_name || 'document'}${s.page ? `, page ${s.page}` : ''}`);
        b.title = `${s.file_name || ''}${s.page ? `, page ${s.page}` : ''}`;
        frag.append(b);
      });
      last = m.index + m[0].length;
    }
    if (last === 0) continue;
    frag.append(text.slice(last));
    node.replaceWith(frag);
  }
}

export function citations(node, params) {
  const state = { params };
  const onclick = (event) => {
    const b = event.target.closest?.('button.cite');
    if (!b || !node.contains(b)) return;
    const s = state.params.sources?.find((x) => Number(x.n) === Number(b.dataset.n));
    if (s) state.params.onopen?.(s);
  };
  node.addEventListener('click', onclick);
  const run = () => state.params.enabled && mark(node, state);
  run();
  queueMicrotask(run);
  return {
    update(next) {
      state.params = next;
      run();
      queueMicrotask(run);
    },
    destroy() {
      node.removeEventListener('click', onclick);
    },
  };
}
