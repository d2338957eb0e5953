"""Command line: ``python -m core build | add-model | import | check | synth``.

The library logs through ``logging`` (loggers named after its modules); this is where logging is
configured: ``--quiet`` shows warnings only, the default shows progress messages (info),
``--verbose`` adds debug messages. Log lines go through ``tqdm.write`` so they never break a
progress bar.

Expected errors — a bad experiment or input, a missing or unreadable file, a dataset error, a
database error, another writer holding the database (:class:`core.errors.UserError` and the
``ValueError`` / ``OSError`` of bad inputs) — end the command with one line ``error: …`` on
stderr and exit status 2 (a manifest with several problems: one such line per problem);
``--debug`` shows the traceback instead. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from .device import DEVICE_CHOICES
from .errors import UserError
from .pipeline.executors import EXECUTORS


class _TqdmHandler(logging.Handler):
    """Write log records above the progress bars, on stdout as the CLI's own lines are."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        try:
            tqdm.write(self.format(record))
        except Exception:  # logging must never stop the command
            self.handleError(record)


def _expected_errors() -> tuple[type[BaseException], ...]:
    """The errors that are the user's input, not a bug: shown as one line, exit status 2. Any
    other exception (a ``RuntimeError`` of torch, a bug) keeps its traceback."""
    import duckdb

    # UserError: a busy or foreign database, an unreachable Ray cluster (core.errors);
    # ValueError: a bad experiment or argument (DatasetError too); OSError: a file.
    return (UserError, ValueError, OSError, duckdb.Error)


def _one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _configure_logging(args) -> None:
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("core")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _build(args) -> int:
    from .pipeline.build import BuildFailed, build
    from .pipeline.executors import make_executor
    from .pipeline.experiment import load_experiment, preset_path

    from .store import check_project_file

    path = Path(args.experiment) if args.experiment else preset_path(args.preset)
    experiment = load_experiment(path)
    db = Path(args.db or f"{args.cache}/{experiment.name}.duckdb")
    check_project_file(db)   # another application's file: refused before anything is written
    executor = make_executor(args.executor, address=args.ray_address,
                             max_retries=args.max_retries, workers=args.workers,
                             device=args.device)
    device = getattr(executor.device, "kind", executor.device)
    print(f"building {experiment.name} ({path}) into {db} ({args.executor} executor, networks "
          f"on {device})", flush=True)
    t0 = time.perf_counter()
    try:
        report = build(experiment, db, cache_dir=args.cache, progress=not args.quiet,
                       publish_every=args.publish_every, executor=executor)
    except BuildFailed as exc:
        print(f"build incomplete after {time.perf_counter() - t0:.1f}s: {exc}", file=sys.stderr)
        return 1
    finally:
        executor.close()
    if report.up_to_date:
        print(f"nothing to do: {db} is up to date", flush=True)
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items())
    print(f"done in {time.perf_counter() - t0:.1f}s ({stages}); database {db} "
          f"({db.stat().st_size / 2**20:.1f} MiB)", flush=True)
    return 0


def _add_model(args) -> int:
    from .pipeline.register import add_model
    from .store import check_project_file

    check_project_file(args.db)
    model_id = add_model(args.db, args.checkpoint, arch=args.arch, method=args.method,
                         ratio=args.ratio, retrained=args.retrained, width=args.width,
                         model_id=args.model_id, seed=args.seed, replace=args.replace)
    print(f"registered {model_id} in {args.db}; run `python -m core build` with the same "
          "--db to evaluate it on every benchmark")
    return 0


def _import(args) -> int:
    from .pipeline.manifest import import_manifest
    from .store import check_project_file

    check_project_file(args.db)   # only this project's databases (as build and add-model)
    model_ids = import_manifest(args.db, args.manifest,
                                sparsity_tolerance=args.sparsity_tolerance)
    print(f"registered {len(model_ids)} models of {args.manifest} in {args.db}; run `python -m "
          "core build` with the same --db to evaluate them on every benchmark")
    return 0


def _synth(args) -> int:
    from .pipeline.synth import write_synthetic_db

    path = write_synthetic_db(args.out, n_models=args.models, n_benchmarks=args.benchmarks,
                              n_samples=args.samples, seed=args.seed)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


def _check(args) -> int:
    from .checks import check_database
    from .store import check_project_file, open_read_only

    check_project_file(args.db)
    con = open_read_only(args.db)
    results = check_database(con)
    con.close()
    for name, bad in results.items():
        print(f"{'ok ' if bad == 0 else 'BAD'} {name}" + (f" ({bad} violations)" if bad else ""))
    return 0 if not any(results.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core",
                                     description="Robustness Lottery Explorer pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    # Every command takes the verbosity flags (after its name, as its other options).
    verbosity = argparse.ArgumentParser(add_help=False)
    loudness = verbosity.add_mutually_exclusive_group()
    loudness.add_argument("--quiet", action="store_true",
                          help="warnings only (and, for build, no progress bars)")
    loudness.add_argument("--verbose", action="store_true", help="debug messages too")
    verbosity.add_argument("--debug", action="store_true",
                           help="show the traceback of an error instead of one line")

    b = sub.add_parser("build", parents=[verbosity],
                       help="train, prune, corrupt, evaluate and analyse into DuckDB")
    which = b.add_mutually_exclusive_group()
    which.add_argument("--preset", default="demo", help="tiny, demo or paper (experiments/*.toml)")
    which.add_argument("--experiment", help="path to an experiment TOML file")
    b.add_argument("--db", help="database file (default cache/<experiment name>.duckdb)")
    b.add_argument("--cache", default="cache", help="checkpoints and corrupted sets (default cache)")
    b.add_argument("--publish-every", type=float, default=30.0, metavar="SECONDS",
                   help="how often a long stage makes its progress visible to the app (default 30)")
    b.add_argument("--executor", choices=EXECUTORS, default="pool",
                   help="run the tasks in worker processes of this machine, one per core "
                        "(pool, the default), in this process (local) or on a Ray cluster")
    b.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                   help="where training, pruning scores, MPT and evaluation run: auto (the "
                        "default: CUDA when torch sees a GPU, else the CPU), cpu or cuda")
    b.add_argument("--workers", type=int, metavar="N",
                   help="pool executor: worker processes (default: one per CPU core)")
    b.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to join: HOST:PORT of its head, or 'auto' for the cluster "
                        "this machine belongs to (default: start a local Ray instance)")
    b.add_argument("--max-retries", type=int, default=3, metavar="N",
                   help="Ray executor: attempts after a task fails or its worker dies (default 3)")
    b.set_defaults(func=_build)

    a = sub.add_parser("add-model", parents=[verbosity],
                       help="register your own checkpoint for evaluation")
    a.add_argument("checkpoint", help="state dict of a registry architecture (weights_only)")
    a.add_argument("--db", required=True)
    a.add_argument("--arch", required=True)
    a.add_argument("--method", required=True, help="dense, magnitude, mpt, … (free text)")
    a.add_argument("--ratio", type=float, default=0.0)
    a.add_argument("--retrained", action="store_true")
    a.add_argument("--width", type=float, default=1.0)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--model-id")
    a.add_argument("--replace", action="store_true",
                   help="replace a model of the same id (its evaluations are dropped)")
    a.set_defaults(func=_add_model)

    m = sub.add_parser("import", parents=[verbosity],
                       help="register a grid of your own checkpoints listed in a CSV manifest")
    m.add_argument("manifest", help="CSV: checkpoint, arch, method, ratio, retrained, seed, "
                                    "parent, model_id, width per row (see README)")
    m.add_argument("--db", required=True, help="a database a build has created")
    m.add_argument("--sparsity-tolerance", type=float, default=0.02, metavar="T",
                   help="largest |measured sparsity - stated ratio| accepted (default 0.02)")
    m.set_defaults(func=_import)

    c = sub.add_parser("check", parents=[verbosity],
                       help="verify the invariants of a results database")
    c.add_argument("--db", default="cache/demo.duckdb")
    c.set_defaults(func=_check)

    s = sub.add_parser("synth", parents=[verbosity],
                       help="write a synthetic DB for scale tests")
    s.add_argument("--out", default="cache/synth_20m.duckdb")
    s.add_argument("--models", type=int, default=200)
    s.add_argument("--benchmarks", type=int, default=10)
    s.add_argument("--samples", type=int, default=10_000)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_synth)

    args = parser.parse_args(argv)
    _configure_logging(args)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; rerun the same command to continue",
              file=sys.stderr)
        return 130
    except _expected_errors() as exc:
        if args.debug:
            raise
        # A manifest's problems (core.pipeline.manifest.ManifestError): one line each.
        for line in getattr(exc, "problems", None) or [exc]:
            print(f"error: {_one_line(line)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
