"""requirements.lock must match pyproject.toml: every requirement pinned, at a version it allows."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _lock() -> tuple[str, dict[str, str]]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    digest = lines[0].removeprefix("# dependency-digest: ").strip()
    pins = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    return digest, {name.lower().replace("_", "-"): v for name, v in pins.items()}


def test_lock_was_made_from_the_current_dependency_lists():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
    lock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lock)
    digest, _ = _lock()
    assert digest == lock.dependency_digest(), (
        "requirements.lock is out of date with pyproject.toml: run .venv/bin/python scripts/lock.py")


def test_every_requirement_is_pinned_at_an_allowed_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                              for r in extra]
    _, pins = _lock()
    for text in requirements:
        req = Requirement(text)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {req.specifier}")
