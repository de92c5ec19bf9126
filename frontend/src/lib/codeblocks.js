// A Svelte action for rendered Markdown: each code block gets a header with its language
// and a copy button, and (once the answer is complete) syntax highlighting, loaded lazily;
// the code can scroll sideways, so it takes the keyboard focus and is named. KaTeX's layout styles
// (kept by the math sanitizer as data-katex-style) are set through the CSSOM, which the
// Content-Security-Policy allows where a parsed style attribute is blocked.
let highlighter = null;

function loadHighlighter() {
  highlighter ??= import('./highlight.js').then((m) => m.default);
  return highlighter;
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Not a secure context or no permission: the old way still works.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

function applyKatexStyles(root) {
  for (const el of root.querySelectorAll('[data-katex-style]')) {
    el.style.cssText = el.getAttribute('data-katex-style');
    el.removeAttribute('data-katex-style');
  }
}

/** For rendered Markdown shown outside an answer (the compare dialog): KaTeX's layout styles
 * only, set again whenever the parameter (the HTML) changes. */
export function mathStyles(node) {
  const apply = () => queueMicrotask(() => applyKatexStyles(node));
  applyKatexStyles(node);
  apply();
  return { update: apply };
}

function enhanceBlock(root, highlight) {
  applyKatexStyles(root);
  for (const pre of root.tagName === 'PRE' ? [root] : root.querySelectorAll('pre')) {
    const code = pre.querySelector('code');
    if (!code) continue;
    // The header goes inside the <pre>: the <pre> stays where Svelte put it, so a block's
    // HTML can be replaced while the answer streams (Svelte removes the nodes it inserted).
    if (!pre.classList.contains('codeblock')) {
      const lang = (/language-([\w+#.-]+)/.exec(code.className) || [])[1] || '';
      const head = document.createElement('div');
      head.className = 'codeblock-head';
      const label = document.createElement('span');
      label.textContent = lang || 'text';
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'copy-code';
      button.textContent = 'Copy';
      button.setAttribute('aria-label', `Copy code${lang ? ` (${lang})` : ''}`);
      button.addEventListener('click', async () => {
        const ok = await copyText(code.textContent);
        button.textContent = ok ? 'Copied' : 'Copy failed';
        setTimeout(() => (button.textContent = 'Copy'), 1500);
      });
      head.append(label, button);
      pre.classList.add('codeblock');
      pre.prepend(head);
      // The code scrolls sideways: it takes the keyboard focus and has a name.
      code.tabIndex = 0;
      code.setAttribute('role', 'group');
      code.setAttribute('aria-label', `Code${lang ? ` (${lang})` : ''}`);
    }
    if (highlight && !code.dataset.highlighted) {
      loadHighlighter().then((hl) => {
        if (code.isConnected && !code.dataset.highlighted) hl(code);
      });
    }
  }
}

// Only the top-level elements not seen yet (finished blocks are grouped, see markdown.js, so
// there are few top-level elements to look at): the work per delta does not grow with the answer. Once the answer
// is complete (`highlight`), every code block is looked at once more, to highlight it.
function enhance(root, { highlight }, seen) {
  if (highlight && !seen.highlighted) {
    seen.highlighted = true;
    seen.elements = new WeakSet();
  }
  for (let el = root.firstElementChild; el; el = el.nextElementSibling) {
    if (seen.elements.has(el)) continue;
    enhanceBlock(el, highlight);
    seen.elements.add(el);
  }
}

export function codeblocks(node, params) {
  const seen = { elements: new WeakSet(), highlighted: false };
  enhance(node, params, seen);
  return {
    update(next) {
      // Svelte may call this before it has put the new blocks' HTML in: once more after.
      enhance(node, next, seen);
      queueMicrotask(() => enhance(node, next, seen));
    },
  };
}
