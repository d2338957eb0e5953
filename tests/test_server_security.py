"""The repository's server configuration, checked against the real Streamlit server
(``streamlit run app/serve.py``, the served app).

A WebSocket from a page of another origin (another host, or another port of this machine) must
be refused, one from the server's own origin accepted; a Host header of another name (DNS
rebinding) refused; every response forbids framing; a foreign attempt never waits for
Streamlit's external-address lookup; the config must hide tracebacks and the developer toolbar;
the app names the database by its file name only.
"""

import asyncio
import socket
import time
import tomllib
import urllib.request
from pathlib import Path

import websockets

from browser_helpers import streamlit_server

ROOT = Path(__file__).resolve().parent.parent


async def _upgrade(url: str, origin: str) -> int:
    """HTTP status of a WebSocket upgrade to the app's stream endpoint sent with ``origin``."""
    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    try:
        async with websockets.connect(ws_url, origin=origin, open_timeout=10,
                                      subprotocols=["streamlit"]):
            return 101
    except websockets.exceptions.InvalidStatus as exc:
        return exc.response.status_code


def test_config_protects_a_shared_server():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableCORS"] is True
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["fileWatcherType"] == "none"
    assert config["client"]["showErrorDetails"] == "none"
    assert config["client"]["toolbarMode"] == "viewer"


def test_foreign_origin_websocket_is_refused_and_own_origin_accepted(tmp_path):
    # The database need not exist: the check is on the server's handshake, not on the app.
    with streamlit_server(tmp_path / "absent.duckdb", root=ROOT) as url:
        assert asyncio.run(_upgrade(url, "http://evil.example")) == 403
        assert asyncio.run(_upgrade(url, url)) == 101


# --- hosting defaults: rebinding, other-port origins, framing, no blocking lookup -------------

async def _upgrade_as(name: str, port: int, origin: str) -> int:
    """HTTP status of a WebSocket upgrade sent to 127.0.0.1:``port`` with the Host header
    ``name:port`` (what a browser sends after DNS rebinding) and ``origin``."""
    try:
        async with websockets.connect(f"ws://{name}:{port}/_stcore/stream", origin=origin,
                                      host="127.0.0.1", port=port, open_timeout=20,
                                      subprotocols=["streamlit"]):
            return 101
    except websockets.exceptions.InvalidStatus as exc:
        return exc.response.status_code


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_config_refuses_foreign_host_names():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["allowedHosts"] == ["localhost", "127.0.0.1"]


def test_rebinding_other_port_origins_and_framing_are_refused_by_the_served_app(tmp_path):
    with streamlit_server(tmp_path / "absent.duckdb", root=ROOT) as url:
        port = _port(url)
        other = port + 1 if port < 65535 else port - 1
        # DNS rebinding: the page's host name now resolves to 127.0.0.1, so the browser sends
        # Host and Origin of that name.
        assert asyncio.run(_upgrade_as("rebind.example", port,
                                       f"http://rebind.example:{port}")) == 403
        # A page served from another local port is another origin.
        assert asyncio.run(_upgrade_as("127.0.0.1", port, f"http://127.0.0.1:{other}")) == 403
        assert asyncio.run(_upgrade_as("127.0.0.1", port, f"http://localhost:{other}")) == 403
        # The server's own origin, by either loopback name, is accepted.
        assert asyncio.run(_upgrade_as("127.0.0.1", port, f"http://127.0.0.1:{port}")) == 101
        assert asyncio.run(_upgrade_as("localhost", port, f"http://localhost:{port}")) == 101
        for path in ("/", "/_stcore/health", "/samples-geometry"):
            with urllib.request.urlopen(url + path, timeout=20) as response:
                assert response.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
                assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


class _Blackhole:
    """A TCP port that accepts connections and never answers: as a proxy, it makes every HTTP
    request through it wait for its timeout (a machine without a network route)."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *exc):
        self.sock.close()


def _seconds_for_foreign_attempts(url: str, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        assert asyncio.run(_upgrade(url, "http://evil.example")) == 403
    return time.perf_counter() - start


def test_a_foreign_origin_attempt_never_waits_for_an_external_address_lookup(tmp_path):
    with _Blackhole() as proxy:
        env = {"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy,
               "https_proxy": proxy, "NO_PROXY": "", "no_proxy": ""}
        # Streamlit alone looks the external address up (two 1 s requests) on every attempt:
        # the proxy makes that visible …
        with streamlit_server(tmp_path / "absent.duckdb", root=ROOT, script="streamlit_app.py",
                              env=env) as plain:
            assert _seconds_for_foreign_attempts(plain, 1) >= 1.5
        # … and the served app refuses foreign origins before Streamlit looks anything up.
        with streamlit_server(tmp_path / "absent.duckdb", root=ROOT, env=env) as served:
            assert _seconds_for_foreign_attempts(served, 5) < 1.5


def test_origin_rule_hand_cases():
    from app.serve import origin_allowed

    def allowed(origin, host="127.0.0.1:8501", scheme="ws", extra=()):
        return origin_allowed(origin, host, scheme=scheme, allowed=list(extra))

    assert allowed(None)                                   # not a browser
    assert allowed("http://127.0.0.1:8501")
    assert not allowed("http://127.0.0.1:8502") and not allowed("https://127.0.0.1:8501")
    assert allowed("http://app.example", host="app.example:80")        # default ports
    assert allowed("https://app.example", host="app.example", scheme="wss")
    assert allowed("https://proxy.example", extra=["https://proxy.example:443"])
    assert not allowed("https://proxy.example:8443", extra=["https://proxy.example"])
    assert not allowed("null") and not allowed("http://[::1") and not allowed("")


def test_the_sidebar_and_errors_name_the_database_file_only(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "secret-dir" / "results.duckdb"
    db.parent.mkdir()
    db.write_bytes(b"SQLite format 3\x00" + bytes(100))
    monkeypatch.setenv("ROBUSTNESS_DB", str(db))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    # As rendered: the Markdown source escapes punctuation (app.escape.plain) with backslashes.
    shown = " ".join([c.value for c in at.sidebar.caption]
                     + [e.value for e in at.error]).replace("\\", "")
    assert "results.duckdb" in shown and "it starts like an SQLite file" in shown
    assert "secret-dir" not in shown and str(tmp_path) not in shown
