"""The built web page (e.g. frontend/dist) at `/`, as S3 + CloudFront serve it in AWS:
files by path, `index.html` for `/`, and for an unknown path that names no file (no
extension, e.g. `/chats/123`) `index.html` again, so the single-page app's router takes it.
Paths under an API route's first segment (`/api`, `/v1`) never fall back: they stay 404s.
Every file carries the page's Content-Security-Policy, as CloudFront's response-headers
policy adds it in AWS (omnichat.security_headers is the one source of both).

The build names every file under `assets/` by a hash of its content, so a browser keeps
those for a year without asking again; every other file (index.html, theme.js, config.json)
is asked for again each time, so a new build is seen at the next load (docs/frontend.md)."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, Response

from omnichat.security_headers import PAGE_HEADERS

IMMUTABLE = {"cache-control": "public, max-age=31536000, immutable"}
REVALIDATE = {"cache-control": "no-cache"}


class StaticSite:
    def __init__(self, directory: str | Path, api_prefixes: set[str] | frozenset[str] = frozenset()) -> None:
        self.root = Path(directory).resolve()
        self.api_prefixes = api_prefixes  # first path segments of API routes: never the SPA
        if not self.root.is_dir():
            raise FileNotFoundError(f"--static {directory}: no such directory")

    def response(self, method: str, path: str) -> Response | None:
        if method not in ("GET", "HEAD"):
            return None
        relative = path.lstrip("/")
        candidate = (self.root / relative).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            return None  # ../ escapes
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if candidate.is_file():
            hashed = candidate.parent == self.root / "assets"
            return FileResponse(candidate, headers={**PAGE_HEADERS, **(IMMUTABLE if hashed else REVALIDATE)})
        index = self.root / "index.html"
        last = relative.rsplit("/", 1)[-1]
        is_api = relative.split("/", 1)[0] in self.api_prefixes
        if "." not in last and not is_api and index.is_file():
            return FileResponse(index, headers={**PAGE_HEADERS, **REVALIDATE})
        return None
