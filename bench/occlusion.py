"""Occlusion maps of the four geometry metrics: core.attribution.occlusion vs Captum's Occlusion.

LeNet-5, a 28×28 grey image, window 4, stride 2 (169 windows): uniform noise (every window
changes the image), then — when the Debian package is installed — the first Fashion-MNIST test
image, whose black background lets ours skip the windows that occlusion with baseline 0 leaves
unchanged. Captum gets its best batching (all windows in one forward pass,
perturbations_per_eval = 169) and the same forward function (features → compute_geometry), in
two forms:
  * per metric — four ``attribute`` calls, one per metric (the usual ``target`` style of use);
  * multi-output — one call whose forward returns the four metrics (N, 4) (Captum attributes
    every output element separately).
Timings are medians over interleaved repetitions in one process, on ``--threads`` CPU threads.

    .venv/bin/python bench/occlusion.py [--threads 2] [--repeats 30]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from captum.attr import Occlusion

from core.attribution import OCCLUSION_METRICS, occlusion, window_starts
from core.geometry import compute_geometry
from core.models import build_model, features_and_logits, head_parameters

WINDOW, STRIDE, LABEL = 4, 2, 3
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def _geometry_forward(model, label, metrics):
    def forward(batch):
        features, _ = features_and_logits(model, batch)
        weight, bias = head_parameters(model)
        labels = torch.full((batch.shape[0],), label)
        geometry = compute_geometry(features, weight, bias, labels)
        return torch.stack([geometry[m] for m in metrics], dim=1).squeeze(1)
    return forward


def _fashion_mnist_image() -> torch.Tensor | None:
    if not FASHION_MNIST.is_file():
        return None
    with gzip.open(FASHION_MNIST) as f:
        pixels = np.frombuffer(f.read(16 + 28 * 28), dtype=np.uint8, offset=16)
    return torch.as_tensor(pixels.reshape(1, 28, 28) / 255.0, dtype=torch.float32)


def bench_image(model, image: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median milliseconds of each method on one image, after checking they agree."""
    windows = len(window_starts(28, WINDOW, STRIDE)) ** 2
    captum_kwargs = dict(sliding_window_shapes=(1, WINDOW, WINDOW), strides=(1, STRIDE, STRIDE),
                         baselines=0.0, perturbations_per_eval=windows)
    per_metric = [Occlusion(_geometry_forward(model, LABEL, [m])) for m in OCCLUSION_METRICS]
    multi = Occlusion(_geometry_forward(model, LABEL, OCCLUSION_METRICS))
    runs = {
        "ours": lambda: occlusion(model, image, LABEL, window=WINDOW, stride=STRIDE),
        "captum per metric": lambda: [o.attribute(image[None], **captum_kwargs)
                                      for o in per_metric],
        "captum multi-output": lambda: multi.attribute(image[None], **captum_kwargs),
    }
    ours, ref = runs["ours"](), runs["captum multi-output"]()
    worst = max(float(np.abs(ours[m] + ref[k, 0].numpy()).max())
                for k, m in enumerate(OCCLUSION_METRICS))
    if worst > 1e-4:
        raise AssertionError(f"ours differs from −Captum by {worst:.2e}")
    times: dict[str, list[float]] = {name: [] for name in runs}
    with torch.no_grad():
        for fn in runs.values():
            fn()  # warm-up
        for _ in range(repeats):  # interleaved, so load changes hit every method alike
            for name, fn in runs.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("lenet5", in_channels=1, num_classes=10).eval()
    images = {"uniform noise": torch.rand(1, 28, 28), "Fashion-MNIST #0": _fashion_mnist_image()}
    print(f"LeNet-5, 28×28, window {WINDOW}, stride {STRIDE} "
          f"({len(window_starts(28, WINDOW, STRIDE)) ** 2} windows), {args.threads} threads, "
          f"median of {args.repeats}; ours = −Captum checked to 1e-4")
    for title, image in images.items():
        if image is None:
            print(f"{title}: skipped ({FASHION_MNIST} not installed)")
            continue
        median = bench_image(model, image, args.repeats)
        print(f"{title}:")
        for name, ms in median.items():
            print(f"  {name:<20} {ms:8.2f} ms")
        for name in ("captum per metric", "captum multi-output"):
            print(f"  ours is {median[name] / median['ours']:.2f}× faster than {name}")


if __name__ == "__main__":
    main()
