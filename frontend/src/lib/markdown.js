// Model answers are Markdown: rendered with marked, then sanitized with DOMPurify so that
// nothing a model writes (raw HTML, javascript: links, event handlers) can run.
//
// A streaming answer is rendered incrementally (`createRenderer`): the answer is cut into
// top-level blocks at blank lines outside code fences and math, each finished block is
// rendered and sanitized once and its HTML kept, and each delta re-renders only the growing
// tail. Math (`$…$`, `$$…$$`) is rendered by KaTeX, loaded only when an answer has math.
import { Marked } from 'marked';
import DOMPurify from 'dompurify';

const ALLOWED_TAGS = [
  'a', 'b', 'blockquote', 'br', 'code', 'del', 'em', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i',
  'input', 'kbd', 'li', 'ol', 'p', 'pre', 's', 'strong', 'sub', 'sup', 'table', 'tbody', 'td', 'th',
  'thead', 'tr', 'ul', 'span', 'details', 'summary',
];
const ALLOWED_ATTR = ['href', 'title', 'class', 'type', 'checked', 'disabled', 'align', 'start', 'aria-label'];
const SAFE_URL = /^(?:https?:|mailto:|#|\/(?!\/))/i;
const ALIGN = /^(?:left|center|right)$/;
const TASK_LABELS = new Set(['Done', 'Not done']);
// Math stands in the Markdown's HTML as a private-use marker until it is sanitized; the
// markers are removed from the model's text first, so only ours exist.
const MARK_OPEN = '\uE000';
const MARK_CLOSE = '\uE001';
const MARKS = /[\uE000\uE001]/g;

let math = null; // the KaTeX module once loaded
let mathLoading = null;
let pass = null; // the render in progress: { formulas: [], sawMath: false }

export function mathReady() {
  return math !== null;
}

/** Load KaTeX (once); resolves when it is ready. */
export function loadMath() {
  mathLoading ??= import('./math.js').then((m) => {
    math = m;
  });
  return mathLoading;
}

function mathToken(tex, display) {
  if (!pass) return escapeHtml(display ? `$$${tex}$$` : `$${tex}$`);
  pass.sawMath = true;
  if (!math) return escapeHtml(display ? `$$${tex}$$` : `$${tex}$`);
  pass.formulas.push({ tex, display });
  return `${MARK_OPEN}${pass.formulas.length - 1}${MARK_CLOSE}`;
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    // Images become links: a model's answer never loads anything by itself (no tracking
    // pixels, no data sent out through an image URL).
    image({ href, title, text }) {
      const label = escapeHtml(text || href || 'image');
      return `<a href="${escapeHtml(href || '')}"${title ? ` title="${escapeHtml(title)}"` : ''}>🖼 ${label}</a>`;
    },
    // A task is a read-only checkbox named by its state (the item's text follows it).
    checkbox({ checked }) {
      return `<input type="checkbox" disabled${checked ? ' checked' : ''} aria-label="${checked ? 'Done' : 'Not done'}"> `;
    },
  },
  extensions: [
    {
      name: 'blockMath',
      level: 'block',
      start: (src) => src.match(/^ {0,3}\$\$/m)?.index,
      tokenizer(src) {
        const m = /^ {0,3}\$\$([\s\S]+?)\$\$[ \t]*(?:\n+|$)/.exec(src);
        if (m) return { type: 'blockMath', raw: m[0], text: m[1].trim() };
      },
      renderer: (token) => `<p>${mathToken(token.text, true)}</p>\n`,
    },
    {
      name: 'inlineMath',
      level: 'inline',
      start: (src) => src.indexOf('$') >= 0 ? src.indexOf('$') : undefined,
      tokenizer(src) {
        const m = /^\$\$([^$]+?)\$\$/.exec(src) || /^\$(?![\s$])((?:\\.|[^\\\n$])+?)(?<![\s\\])\$(?!\d)/.exec(src);
        if (m) return { type: 'inlineMath', raw: m[0], text: m[1], display: m[0].startsWith('$$') };
      },
      renderer: (token) => mathToken(token.text, token.display),
    },
  ],
});

const purify = DOMPurify(window);
purify.addHook('uponSanitizeAttribute', (node, data) => {
  if (data.attrName === 'class') {
    // Only code blocks keep a class, and only their language: no borrowing of app styles.
    const lang = /^language-[\w+#.-]{1,32}$/.exec(data.attrValue);
    if (node.nodeName !== 'CODE' || !lang) data.keepAttr = false;
  }
  if (data.attrName === 'type' && !(node.nodeName === 'INPUT' && data.attrValue === 'checkbox')) data.keepAttr = false;
  if (data.attrName === 'href' && !SAFE_URL.test(data.attrValue.trim())) data.keepAttr = false;
  if (data.attrName === 'align' && !ALIGN.test(data.attrValue)) data.keepAttr = false;
  if (data.attrName === 'aria-label' && !(node.nodeName === 'INPUT' && TASK_LABELS.has(data.attrValue))) data.keepAttr = false;
});
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.nodeName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
  if (node.nodeName === 'INPUT') {
    node.setAttribute('disabled', '');
    node.setAttribute('type', 'checkbox');
    if (!node.hasAttribute('aria-label')) node.setAttribute('aria-label', node.hasAttribute('checked') ? 'Done' : 'Not done');
    // Its list item is a task (no bullet): marked by us, after the item's own class was dropped.
    const item = node.parentElement?.nodeName === 'P' ? node.parentElement.parentElement : node.parentElement;
    if (item?.nodeName === 'LI' && !node.previousElementSibling) item.setAttribute('class', 'task');
  }
});

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function sanitize(html) {
  return purify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOW_DATA_ATTR: false,
    ADD_ATTR: ['target', 'rel'],
    ALLOWED_URI_REGEXP: SAFE_URL,
    // DOMPurify checks every other attribute's value against ALLOWED_URI_REGEXP: without
    // this, align="center" and type="checkbox" were dropped (a task became a text box).
    ADD_URI_SAFE_ATTR: ['align', 'type', 'checked', 'disabled', 'start', 'aria-label'],
  });
}

/** One piece of Markdown → sanitized HTML; reports whether it has math (`pass.sawMath`). */
function renderPiece(text) {
  pass = { formulas: [], sawMath: false };
  try {
    let html = sanitize(marked.parse((text || '').replace(MARKS, ''), { async: false }));
    const { formulas } = pass;
    if (formulas.length) {
      html = html.replace(/\uE000(\d+)\uE001/g, (_, i) => {
        const f = formulas[Number(i)];
        return (f && math.renderMath(f.tex, f.display)) ?? escapeHtml(f ? f.tex : '');
      });
    }
    return { html, sawMath: pass.sawMath };
  } finally {
    pass = null;
  }
}

export function renderMarkdown(text) {
  return renderPiece(text).html;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const LIST_OR_INDENT = /^(?:\s|[-*+](?:\s|$)|\d{1,9}[.)](?:\s|$))/;

/**
 * Where the finished top-level blocks of `text` end, scanning from `from` (a block start):
 * the offsets just after a blank line outside code fences and `$$` math whose next line
 * starts a new block at the top level (not indented, not a list item, so lists stay whole).
 */
export function blockEnds(text, from = 0) {
  const ends = [];
  let fence = null; // the open fence's marker
  let inMath = false;
  let blank = false;
  let pos = from;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) break; // the last line may still grow
    const line = text.slice(pos, nl);
    if (fence) {
      const m = FENCE.exec(line);
      if (m && m[1][0] === fence[0] && m[1].length >= fence.length && !line.slice(m[0].length).trim()) fence = null;
    } else if (inMath) {
      if (line.includes('$$')) inMath = false;
    } else if (!line.trim()) {
      blank = true;
    } else {
      if (blank && pos > from && !LIST_OR_INDENT.test(line)) ends.push(pos);
      blank = false;
      const m = FENCE.exec(line);
      if (m) fence = m[1];
      else if (/^ {0,3}\$\$/.test(line) && !/^ {0,3}\$\$[\s\S]*\$\$/.test(line)) inMath = true;
    }
    pos = nl + 1;
  }
  return ends;
}

const CHUNK = 16;

/**
 * An incremental renderer for one message: `render(text)` → `{ chunks: [{ key, blocks }],
 * loose: [{ key, html }], sawMath }` (the blocks in order: the chunks', then the loose ones). Finished blocks are rendered once; only the last (growing) block is rendered
 * again. A text that is not a continuation of the last one starts over.
 */
export function createRenderer() {
  let done = []; // { key, html, sawMath }
  let chunks = []; // { key, blocks, sawMath }: groups of CHUNK finished blocks
  let generation = 0; // a new one at each start-over: its chunks are new elements
  let doneText = '';
  let withMath = mathReady();
  return {
    render(text) {
      text = text || '';
      if (withMath !== mathReady() || !text.startsWith(doneText)) {
        done = [];
        chunks = [];
        generation += 1;
        doneText = '';
        withMath = mathReady();
      }
      let start = doneText.length;
      for (const end of blockEnds(text, start)) {
        const piece = renderPiece(text.slice(start, end));
        done.push({ key: start, ...piece });
        start = end;
      }
      doneText = text.slice(0, start);
      const tail = start < text.length ? [{ key: start, ...renderPiece(text.slice(start)) }] : [];
      // Finished blocks go in groups of CHUNK (each group one element in the page, which
      // layout can skip as a whole); the rest, and the tail, stand on their own.
      const full = done.length - (done.length % CHUNK);
      if (chunks.length * CHUNK < full) {
        for (let i = chunks.length * CHUNK; i < full; i += CHUNK) {
          const blocks = done.slice(i, i + CHUNK);
          chunks.push({ key: `${generation}:${blocks[0].key}`, blocks, sawMath: blocks.some((b) => b.sawMath) });
        }
      }
      const loose = done.slice(full).concat(tail);
      return { chunks, loose, sawMath: chunks.some((c) => c.sawMath) || loose.some((b) => b.sawMath) };
    },
  };
}
