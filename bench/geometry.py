"""compute_geometry on N=200,000, m=512, C=10 (float32) against the bare ``features @ weight.T``.

Prints the ratio of the two times, measured in the same process (best of several runs each).
Budget: <= 2.5 (the features are read about twice: once for the logits, once for the norms).
"""

from __future__ import annotations

import time

import torch

from core.geometry import compute_geometry


def best_time(fn, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    n, m, c = 200_000, 512, 10
    x = torch.randn(n, m, generator=gen)
    w = torch.randn(c, m, generator=gen)
    b = torch.randn(c, generator=gen)
    y = torch.randint(0, c, (n,), generator=gen)
    base = best_time(lambda: x @ w.T)
    ours = best_time(lambda: compute_geometry(x, w, b, y))
    print(f"threads={torch.get_num_threads()} N={n} m={m} C={c} float32")
    print(f"features @ weight.T : {base * 1e3:8.1f} ms")
    print(f"compute_geometry    : {ours * 1e3:8.1f} ms")
    print(f"ratio               : {ours / base:8.2f}  (budget <= 2.5, aim 2.0)")


if __name__ == "__main__":
    main()
