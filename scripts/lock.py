"""Write `requirements.lock`: every package (with its version) that `pip install -e .[test]` resolves
to today, used as pip constraints by scripts/setup.sh so a fresh machine installs the same versions.

Run after changing the dependencies in pyproject.toml: `.venv/bin/python scripts/lock.py`.
The first line records a digest of the dependency lists it was made from; tests/test_lock.py fails
when pyproject.toml's dependencies no longer match it (the lock is out of date).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
SELF = "robustness-lottery-explorer"


def dependency_digest(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """Digest of the requirement lists the lock is made from (runtime + every extra)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    lists = {"dependencies": sorted(project.get("dependencies", [])),
             **{f"extra:{k}": sorted(v) for k, v in project.get("optional-dependencies", {}).items()}}
    return hashlib.sha256(json.dumps(lists, sort_keys=True).encode()).hexdigest()[:16]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                        "--quiet", "--report", str(report), "-e", f"{ROOT}[test,ray]"], check=True)
        installs = json.loads(report.read_text())["install"]
    pins = sorted({(i["metadata"]["name"].lower(), i["metadata"]["version"]) for i in installs
                   if i["metadata"]["name"].lower() != SELF})
    lines = [f"# dependency-digest: {dependency_digest()}",
             "# Made by scripts/lock.py from pyproject.toml; used by scripts/setup.sh as pip constraints.",
             *(f"{name}=={version}" for name, version in pins)]
    LOCK.write_text("\n".join(lines) + "\n")
    print(f"wrote {LOCK.name}: {len(pins)} packages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
