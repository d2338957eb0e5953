import os
import platform
import subprocess
import sys
from pathlib import Path

# Torch picks its float kernels by the CPU's vector width, and the low bits of trained weights
# and metrics follow: a machine with AVX-512 builds other bits than one with AVX2 only. The tests
# compare builds with digests recorded on another machine, so this process and every build it
# starts (they inherit the environment) use the AVX2 kernels that every x86-64 CI machine has.
# Set before torch is imported: torch reads them once.
if platform.machine().lower() in ("x86_64", "amd64"):
    for name, value in {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                        "MKL_ENABLE_INSTRUCTIONS": "AVX2"}.items():
        os.environ.setdefault(name, value)

import torch  # noqa: E402

# Two cores, several test processes: keep torch from oversubscribing.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

from core.pipeline.executors import retain_freed_memory  # noqa: E402

# As in the build's task processes: the tests that train in this process reuse freed memory
# instead of having the kernel map and zero it again for every batch.
retain_freed_memory()

import pytest


@pytest.fixture(scope="session")
def synth_db(tmp_path_factory):
    """A small synthetic results DB (30 models × 6 benchmarks × 300 samples)."""
    from core.pipeline.synth import write_synthetic_db

    path = tmp_path_factory.mktemp("synth") / "synth.duckdb"
    return write_synthetic_db(path, n_models=30, n_benchmarks=6, n_samples=300, progress=False)


TINY = Path(__file__).resolve().parent.parent / "experiments" / "tiny.toml"


def run_build(db, cache, *, experiment=TINY, timeout=600):
    """Run `python -m core build` in a subprocess (as a user would), on the CPU: the recorded
    digests are the CPU's, and no test needs a GPU."""
    return subprocess.run(
        [sys.executable, "-m", "core", "build", "--experiment", str(experiment), "--db", str(db),
         "--cache", str(cache), "--quiet", "--device", "cpu"],
        capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).resolve().parent.parent)


@pytest.fixture(scope="session")
def tiny_db(tmp_path_factory):
    """The `tiny` preset built once per test session (real data, real models)."""
    root = tmp_path_factory.mktemp("tiny")
    result = run_build(root / "tiny.duckdb", root / "cache")
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "tiny.duckdb"


# Seconds an AppTest run may take: a page's first run (imports, queries, figures) takes several
# seconds on a loaded 2-core machine.
PAGE_TIMEOUT = 120


# The app's entry script: the real frame (navigation, link, selection, sidebar, page, link out).
APP_ENTRY = Path(__file__).resolve().parent.parent / "streamlit_app.py"


def open_page(at, page: str):
    """Point the AppTest ``at`` of `APP_ENTRY` at ``page`` before its first run. AppTest's own
    ``switch_page`` finds file pages only; a callable ``st.Page`` is keyed by the hash of its
    URL path, which is what a browser's address selects."""
    from streamlit.util import calc_hash

    from app.pages import url_path

    at._page_hash = calc_hash(url_path(page))
    return at


@pytest.fixture
def run_page(monkeypatch):
    """Run an app page in the real frame under Streamlit's AppTest:
    ``run_page(page, db_path, **session_state)``.

    ``page`` is a module of app/pages ("guide", "overview", "geometry", "attribution"); ``db_path`` is
    the results database the app reads ($ROBUSTNESS_DB); keyword arguments preset session-state
    keys (as a click on another page or chart would). Returns the AppTest after its first run.
    """
    from streamlit.testing.v1 import AppTest

    def run(page: str, db_path, **session_state):
        monkeypatch.setenv("ROBUSTNESS_DB", str(db_path))
        at = open_page(AppTest.from_file(str(APP_ENTRY), default_timeout=PAGE_TIMEOUT), page)
        for key, value in session_state.items():
            at.session_state[key] = value
        return at.run()

    return run


@pytest.fixture
def downloads(monkeypatch):
    """What the pages' download buttons would serve, by file name (bytes or str).

    A page passes its data as a function that Streamlit calls only on a click, which AppTest
    cannot make; this fixture calls it as the button is drawn.
    """
    import streamlit as st

    served: dict[str, bytes | str] = {}
    draw = st.download_button

    def download_button(label, data, file_name=None, *args, **kwargs):
        served[file_name] = data() if callable(data) else data
        return draw(label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", download_button)
    return served


# --- the browser tests' shared fixtures (tests/test_browser*.py) --------------------------------
@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per test module."""
    from browser_helpers import CHROMIUM, CHROMIUM_ARGS, chromium_or_reason

    missing = chromium_or_reason()
    if missing:
        pytest.fail(f"{missing} (CI is set, so the browser test must run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def app_url(browser, tiny_db):
    """`streamlit run streamlit_app.py` on the tiny database, one server per test module."""
    from browser_helpers import streamlit_server

    with streamlit_server(tiny_db, root=Path(__file__).resolve().parent.parent) as url:
        yield url


@pytest.fixture
def page(browser):
    """A fresh browser context and page; fails the test on any JavaScript error in the page."""
    from browser_helpers import STEP_MS, VIEWPORT

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
