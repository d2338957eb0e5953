"""The app keeps answering while `python -m core build` writes: the builder publishes complete
copies of its work file atomically, and the query layer reads whatever version is in place."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import TINY
from test_build import tiny_plan

ROOT = Path(__file__).resolve().parent.parent


def test_queries_never_fail_while_a_build_writes(tiny_db, tmp_path, monkeypatch):
    from app.db import current_db
    from core.store import catalog

    cache = tmp_path / "cache"
    # Reuse the trained checkpoints so the build spends its time writing results.
    shutil.copytree(tiny_db.parent / "cache" / "checkpoints", cache / "checkpoints")
    db = tmp_path / "served.duckdb"
    monkeypatch.setenv("ROBUSTNESS_DB", str(db))
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "build", "--experiment", str(TINY), "--db", str(db),
         "--cache", str(cache), "--quiet", "--publish-every", "0.5"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, versions = [], set()
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        ref = current_db()
        if ref.exists:
            versions.add(ref.mtime_ns)
            if ref.has_table("evaluations"):
                seen.append(len(ref.read(catalog.evaluations)))
        time.sleep(0.05)
    output = proc.communicate()[0]
    assert proc.returncode == 0, output[-3000:]
    assert len(versions) >= 3, "the build should publish several versions while it runs"
    assert seen == sorted(seen), "published results only ever grow"
    final = len(current_db().read(catalog.evaluations))
    assert final == len(tiny_plan().evaluation_pairs) and (not seen or seen[-1] <= final)
