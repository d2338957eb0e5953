"""Every process of one build, found by pid through a tag in its environment.

A build's workers and their resource tracker inherit the build's environment, and keep it
after the build dies and they are handed to init; a tag there names them all, whenever they
started, without racing the process tree.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

TAG = "ROBUSTNESS_TEST_BUILD_TAG"


def tagged_env(**extra: str) -> tuple[str, dict[str, str]]:
    """A fresh tag and this process's environment with it (plus ``extra``) for a build."""
    tag = uuid.uuid4().hex
    return tag, {**os.environ, **extra, TAG: tag}


def processes_of(tag: str) -> dict[int, str]:
    """{pid: command line} of the live (not zombie) processes whose environment holds ``tag``."""
    marker = f"{TAG}={tag}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(") ", 1)[1][0] == "Z":
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):   # gone meanwhile, or not ours to read
            continue
    return found


def survivors(tag: str, *, within: float) -> dict[int, str]:
    """The processes of ``tag`` still alive after waiting up to ``within`` seconds for all of
    them to end (empty when they all did). Survivors are then killed, so that a failing test
    leaves none behind."""
    deadline = time.monotonic() + within
    while (alive := processes_of(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return alive


def wait_for(condition, *, within: float, what: str):
    """Poll ``condition()`` until it returns a true value (returned), or fail naming ``what``."""
    deadline = time.monotonic() + within
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        time.sleep(0.1)
    return value
