"""What keeping freed memory (``core.pipeline.executors.retain_freed_memory``) buys the build's
tasks.

Each measurement runs in a fresh child process, since glibc's default (a dynamic mmap threshold)
cannot be restored once changed; the two settings alternate ``--repeats`` times so both see the
same machine load. Workloads, one torch thread each as in the build, in this order (glibc's
dynamic threshold rises after the first large block is freed, so what ran before matters; a
build's worker starts with training):

- train: one epoch of dense LeNet-5 training (batch 64) and one of its biprop score search at
  width 1.5 (batch 128) on 12,800 random images;
- evaluate: ``evaluate_model_task`` of LeNet-5 and the small ResNet on ``--benchmarks`` × 500
  random images (bench/evaluate.py's workload) with its database writes.

Prints the best seconds of each setting and the ratio default / retained (> 1: retaining is
faster), with the kernel (system) CPU seconds of the children that show where the time went.

Usage: python bench/malloc.py [--repeats 2] [--benchmarks 24]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(retain: bool, n_benchmarks: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import torch

    from core.models import build_model
    from core.pipeline.executors import retain_freed_memory
    from core.pruning.biprop import to_biprop, train_biprop
    from core.train import fit
    from evaluate import evaluate_seconds, workload

    torch.set_num_threads(1)
    if retain and not retain_freed_memory():
        raise SystemExit("retain_freed_memory() is not in force here (not glibc?)")
    out = {}
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(12800, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (12800,), generator=gen)
    t0 = time.perf_counter()
    fit(build_model("lenet5", in_channels=1, num_classes=10), x, y, epochs=1.0,
        batch_size=64, progress=False)
    biprop = to_biprop(build_model("lenet5", in_channels=1, num_classes=10, width=1.5), 0.5)
    train_biprop(biprop, x, y, epochs=1.0, lr=0.5, batch_size=128)
    out["train"] = time.perf_counter() - t0
    weights, images, labels, sample_ids = workload(["lenet5", "resnet_small"], 1, n_benchmarks,
                                                   500)
    with tempfile.TemporaryDirectory() as tmp:
        out["evaluate"] = evaluate_seconds(weights, images, labels, sample_ids, 1000,
                                           Path(tmp) / "bench.duckdb")
    return out


def measure(retain: bool, n_benchmarks: int) -> tuple[dict[str, float], float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime
    run = subprocess.run([sys.executable, __file__, "--child", str(int(retain)),
                          "--benchmarks", str(n_benchmarks)], check=True,
                         capture_output=True, text=True)
    system = resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime - before
    return json.loads(run.stdout.strip().splitlines()[-1]), system


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--benchmarks", type=int, default=24)
    p.add_argument("--child", type=int, choices=(0, 1), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        print(json.dumps(child(bool(args.child), args.benchmarks)))
        return
    best: dict[bool, dict[str, float]] = {False: {}, True: {}}
    system: dict[bool, float] = {False: float("inf"), True: float("inf")}
    for _ in range(args.repeats):
        for retain in (False, True):
            seconds, sys_seconds = measure(retain, args.benchmarks)
            system[retain] = min(system[retain], sys_seconds)
            for name, value in seconds.items():
                best[retain][name] = min(best[retain].get(name, float("inf")), value)
    for name in best[False]:
        print(f"{name}: default malloc {best[False][name]:.2f} s, freed memory retained "
              f"{best[True][name]:.2f} s, ratio {best[False][name] / best[True][name]:.2f}")
    print(f"kernel CPU per run (best): default {system[False]:.1f} s, retained "
          f"{system[True]:.1f} s")


if __name__ == "__main__":
    main()
