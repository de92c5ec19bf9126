// A tiny history router: /, /c/:id, /s/:token, /keys, /knowledge, /admin/:tab, /account, /signin, /signup.
export const route = $state({ path: location.pathname, name: '', params: {} });

const ROUTES = [
  ['chat', /^\/c\/([^/]+)\/?$/, ['id']],
  ['shared', /^\/s\/([^/]+)\/?$/, ['token']], // a share link: read-only, no sign-in
  ['keys', /^\/keys\/?$/, []],
  ['account', /^\/account\/?$/, []],
  ['knowledge', /^\/knowledge\/?$/, []],
  ['admin', /^\/admin(?:\/([a-z]+))?\/?$/, ['tab']],
  ['signin', /^\/signin\/?$/, []],
  ['signup', /^\/signup\/?$/, []],
  ['home', /^\/?$/, []],
];

function resolve(path) {
  for (const [name, re, keys] of ROUTES) {
    const m = re.exec(path);
    if (m) {
      const params = {};
      keys.forEach((k, i) => (params[k] = m[i + 1] ? decodeURIComponent(m[i + 1]) : undefined));
      return { name, params };
    }
  }
  return { name: 'home', params: {} };
}

function apply(path) {
  const { name, params } = resolve(path);
  route.path = path;
  route.name = name;
  route.params = params;
}

export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname) return apply(path);
  if (replace) history.replaceState({}, '', path);
  else history.pushState({}, '', path);
  apply(path);
}

/** Click handler for in-app links: lets modified clicks open new tabs as usual. */
export function link(event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.currentTarget;
  if (a.target && a.target !== '_self') return;
  event.preventDefault();
  navigate(a.getAttribute('href'));
}

window.addEventListener('popstate', () => apply(location.pathname));
apply(location.pathname);
