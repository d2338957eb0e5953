"""The served app: ``streamlit run app/serve.py`` serves the entry script streamlit_app.py with
the project's hosting protections, which Streamlit's own settings cannot express (README,
"Hosting for a team"):

- **Origins**: a WebSocket (and so every interaction) is accepted only from the server's own
  origin (scheme, host and port of the request) or an origin listed in
  ``server.corsAllowedOrigins``. Streamlit alone accepts every ``localhost`` / ``127.0.0.1``
  origin on any port, and for any other origin looks up the machine's external address with a
  blocking HTTP request on every attempt (freezing the server for seconds without a network);
  here a foreign origin is refused before Streamlit sees it.
- **Framing**: every HTTP response says ``Content-Security-Policy: frame-ancestors 'self'`` and
  ``X-Frame-Options: SAMEORIGIN``, so no other site can frame the app. Not ``'none'``: the
  app's own custom component (the brushable parallel coordinates of the Geometry page) is a
  page of this server in an iframe of the app, and ``'none'`` blocks it too.

``server.allowedHosts`` (.streamlit/config.toml) refuses a Host header that is not the server's
own name (DNS rebinding); Streamlit enforces it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st
from starlette.middleware import Middleware

FRAMING_HEADERS = [(b"content-security-policy", b"frame-ancestors 'self'"),
                   (b"x-frame-options", b"SAMEORIGIN")]


def _origin_key(origin: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of an origin, default ports made explicit; None when malformed."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, parts.hostname.lower(), port if port is not None else default


def origin_allowed(origin: str | None, host: str | None, *, scheme: str,
                   allowed: list[str]) -> bool:
    """Whether a WebSocket from ``origin`` may reach a server addressed as ``host`` over
    ``scheme`` ("ws" / "wss"): no Origin (not a browser), the server's own origin, or one of
    ``allowed`` (``server.corsAllowedOrigins``)."""
    if origin is None:
        return True
    key = _origin_key(origin)
    if key is None:
        return False
    own = _origin_key(f"{'https' if scheme == 'wss' else 'http'}://{host}") if host else None
    return key == own or key in {_origin_key(o) for o in allowed}


class HostingProtection:
    """ASGI middleware: refuse WebSockets of foreign origins (403), add the framing headers to
    every HTTP response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope.get("headers", [])}
            from streamlit import config

            if not origin_allowed(headers.get("origin"), headers.get("host"),
                                  scheme=scope.get("scheme", "ws"),
                                  allowed=list(config.get_option("server.corsAllowedOrigins"))):
                # Closing before accepting answers the upgrade with HTTP 403.
                await send({"type": "websocket.close", "code": 1008})
                return
        elif scope["type"] == "http":
            async def send_with_headers(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": list(message.get("headers", []))
                               + FRAMING_HEADERS}
                await send(message)
            return await self.app(scope, receive, send_with_headers)
        return await self.app(scope, receive, send)


# The entry script sits at the repository root, beside no `pages/` folder (see streamlit_app.py);
# a relative path resolves against this file's folder.
app = st.App("../streamlit_app.py", middleware=[Middleware(HostingProtection)])
