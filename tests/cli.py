"""``python -m core …`` run in this process: ``core.__main__.main(argv)`` with its output
captured, so that a test of a command's message costs no interpreter and torch start-up."""

from __future__ import annotations

import contextlib
import io
import logging
import traceback
from dataclasses import dataclass


@dataclass(frozen=True)
class CliResult:
    """What the command left: exit status, stdout and stderr (as ``subprocess.run`` returns)."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args) -> CliResult:
    """Run ``python -m core *args`` in this process. An exception that escapes ``main`` (with
    ``--debug``, or a bug) is written to stderr as its traceback with status 1, as the
    interpreter would; the ``core`` logger's configuration is restored afterwards, so the CLI's
    logging setup does not leak into later tests."""
    from core.__main__ import main

    logger = logging.getLogger("core")
    saved = logger.handlers[:], logger.level, logger.propagate
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:         # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 1
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]
    return CliResult(code, stdout.getvalue(), stderr.getvalue())
