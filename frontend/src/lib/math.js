// KaTeX, loaded only when an answer has math (a dynamic import of this module; its CSS and
// fonts come from our own origin as Vite assets). Its HTML gets its own sanitizer: KaTeX's
// classes are kept (KaTeX writes them, `trust` is off so no \htmlClass, \href or \url), and
// its inline styles, which the Content-Security-Policy would block in parsed markup, become
// `data-katex-style` with only numeric em lengths of layout properties (and position:relative); `applyMathStyles`
// sets them through the CSSOM once the HTML is in the page.
import katex from 'katex';
import 'katex/dist/katex.min.css';
import DOMPurify from 'dompurify';

const STYLE_PROPS = new Set([
  'height', 'vertical-align', 'top', 'bottom', 'margin-left', 'margin-right', 'padding-left', 'width',
  'min-width', 'max-width', 'border-bottom-width', 'border-top-width', 'border-right-width', 'margin-top',
  'position', 'left', 'right',
]);
const LENGTH = /^-?(?:\d+\.?\d*|\.\d+)(?:em)?$/;

export function cleanStyle(value) {
  const kept = [];
  for (const part of String(value).split(';')) {
    const m = /^\s*([a-z-]+)\s*:\s*(.+?)\s*$/.exec(part);
    if (!m || !STYLE_PROPS.has(m[1])) continue;
    if (m[1] === 'position' ? m[2] === 'relative' : LENGTH.test(m[2])) kept.push(`${m[1]}:${m[2]}`);
  }
  return kept.join(';');
}

const purify = DOMPurify(window);
purify.addHook('uponSanitizeAttribute', (node, data) => {
  if (data.attrName === 'class' && !/^[\w\s-]{0,200}$/.test(data.attrValue)) data.keepAttr = false;
  if (data.attrName.startsWith('data-') && data.attrName !== 'data-katex-style') data.keepAttr = false;
  if (data.attrName === 'data-katex-style') data.attrValue = cleanStyle(data.attrValue);
});

const CONFIG = {
  USE_PROFILES: { html: true, svg: true, mathMl: true },
  FORBID_TAGS: ['a', 'img', 'image', 'use', 'form', 'input', 'button', 'textarea', 'select', 'style', 'foreignObject', 'iframe'],
  FORBID_ATTR: ['style', 'href', 'xlink:href', 'src', 'id', 'name', 'action', 'formaction'],
  ADD_ATTR: ['data-katex-style'], // (with ALLOW_DATA_ATTR off, DOMPurify drops it; the hook drops other data-*)
};

export function renderMath(tex, displayMode) {
  let html;
  try {
    html = katex.renderToString(tex, { displayMode, throwOnError: false, trust: false, strict: 'ignore', maxSize: 50, maxExpand: 500, output: 'htmlAndMathml' });
  } catch {
    return null;
  }
  // Renamed before any parsing: even the sanitizer's inert document reports a parsed style
  // attribute to the page's CSP. KaTeX escapes quotes in text and attribute values, so
  // ` style="` occurs only as its own attributes.
  return purify.sanitize(html.replaceAll(' style="', ' data-katex-style="'), CONFIG);
}
