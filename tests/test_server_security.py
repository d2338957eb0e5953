"""The repository's server configuration, checked against the real Streamlit server.

A WebSocket from a page of another origin must be refused (cross-origin protection on), one from the
server's own origin accepted; the config must hide tracebacks and the developer toolbar.
"""

import asyncio
import tomllib
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
