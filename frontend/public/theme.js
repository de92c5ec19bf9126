// Apply the saved theme before the first paint, so a dark page never flashes white.
// A file, not an inline script: the Content-Security-Policy allows only the page's own files
// (script-src 'self'). Loaded as a classic blocking script in <head>, so it still runs first.
try {
  var t = localStorage.getItem('omnichat.theme');
  if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
} catch (e) {}
