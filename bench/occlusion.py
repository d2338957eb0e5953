"""Occlusion maps of the four geometry metrics: core.attribution.occlusion vs Captum's Occlusion.

LeNet-5, one 28×28 grey image, window 4, stride 2 (169 windows). Captum gets its best batching
(all windows in one forward pass, perturbations_per_eval = 169) and the same forward function
(features → compute_geometry), in two forms:
  * per metric — four ``attribute`` calls, one per metric (the usual ``target`` style of use);
  * multi-output — one call whose forward returns the four metrics (N, 4) (Captum attributes
    every output element separately).
Timings are medians over interleaved repetitions in one process, on ``--threads`` CPU threads.

    .venv/bin/python bench/occlusion.py [--threads 2] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from captum.attr import Occlusion

from core.attribution import OCCLUSION_METRICS, occlusion, window_starts
from core.geometry import compute_geometry
from core.models import build_model, features_and_logits, head_parameters

WINDOW, STRIDE, LABEL = 4, 2, 3


def _geometry_forward(model, label, metrics):
    def forward(batch):
        features, _ = features_and_logits(model, batch)
        weight, bias = head_parameters(model)
        labels = torch.full((batch.shape[0],), label)
        geometry = compute_geometry(features, weight, bias, labels)
        return torch.stack([geometry[m] for m in metrics], dim=1).squeeze(1)
    return forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("lenet5", in_channels=1, num_classes=10).eval()
    image = torch.rand(1, 28, 28)
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
    # Same answer first (ours = −Captum), then time.
    ours = runs["ours"]()
    ref = runs["captum multi-output"]()
    worst = max(float(np.abs(ours[m] + ref[k, 0].numpy()).max())
                for k, m in enumerate(OCCLUSION_METRICS))
    times: dict[str, list[float]] = {name: [] for name in runs}
    with torch.no_grad():
        for fn in runs.values():
            fn()  # warm-up
        for _ in range(args.repeats):
            for name, fn in runs.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    print(f"LeNet-5, 28×28, window {WINDOW}, stride {STRIDE}: {windows} windows, "
          f"{args.threads} threads, max |ours + captum| = {worst:.2e}")
    for name, ms in median.items():
        print(f"  {name:<20} {ms:8.2f} ms")
    for name in ("captum per metric", "captum multi-output"):
        print(f"  ours is {median[name] / median['ours']:.2f}× faster than {name}")


if __name__ == "__main__":
    main()
