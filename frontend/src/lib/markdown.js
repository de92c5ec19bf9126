// Model answers are Markdown: rendered with marked, then sanitized with DOMPurify so that
// nothing a model writes (raw HTML, javascript: links, event handlers) can run.
import { Marked } from 'marked';
import DOMPurify from 'dompurify';

const ALLOWED_TAGS = [
  'a', 'b', 'blockquote', 'br', 'code', 'del', 'em', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i',
  'input', 'kbd', 'li', 'ol', 'p', 'pre', 's', 'strong', 'sub', 'sup', 'table', 'tbody', 'td', 'th',
  'thead', 'tr', 'ul', 'span', 'details', 'summary',
];
const ALLOWED_ATTR = ['href', 'title', 'class', 'type', 'checked', 'disabled', 'align', 'start'];
const SAFE_URL = /^(?:https?:|mailto:|#|\/(?!\/))/i;

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
  },
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
});
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.nodeName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
  if (node.nodeName === 'INPUT') node.setAttribute('disabled', '');
});

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

export function renderMarkdown(text) {
  const html = marked.parse(text || '', { async: false });
  return purify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOW_DATA_ATTR: false,
    ADD_ATTR: ['target', 'rel'],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#|\/(?!\/))/i,
  });
}
