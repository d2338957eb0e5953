"""What buys MPT accuracy per second at LeNet-5's dense width (width 1.0, 84 features).

One run per call, one torch thread, freed memory kept as in the build's workers: a biprop LeNet-5
at ``--ratio``, its scores searched for ``--epochs`` on the 60,000 Fashion-MNIST training images,
then clean accuracy on the 10,000 test images and on the demo's evaluation subset (100 per class,
seed 0). ``--dense CHECKPOINT`` also prints a dense model's accuracy on the same images, the
reference of the goal (within 4 points at the best ratio, 10 at 90 %).

    python bench/mpt_width.py --ratio 0.5 --epochs 4 --lr 0.5 [--scope global] [--edge-popup]
        [--score-scale 1.0] [--batch 128]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from core.data import evaluation_subset, load_dataset
from core.pipeline.executors import retain_freed_memory
from core.models import LeNet5
from core.pruning.biprop import _biprop_layers, export_biprop, to_biprop, train_biprop
from core.train import evaluate, to_input


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--scope", default="layer")
    parser.add_argument("--edge-popup", action="store_true")
    parser.add_argument("--score-scale", type=float, default=1.0,
                        help="multiplies the Kaiming-uniform initial scores")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dense", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    retain_freed_memory()
    train, test = load_dataset("fashion_mnist", split="train"), load_dataset("fashion_mnist")
    x, y = to_input(train.images), torch.tensor(train.labels).long()
    xt, yt = to_input(test.images), torch.tensor(test.labels).long()
    subset = evaluation_subset(test.labels, n_per_class=100, seed=0)
    if args.dense:
        dense = LeNet5()
        dense.load_state_dict(torch.load(args.dense, weights_only=True))
        dense.eval()
        print(f"dense: test {100 * evaluate(dense, xt, yt):.1f} "
              f"subset {100 * evaluate(dense, xt[subset], yt[subset]):.1f}")
        return
    model = to_biprop(LeNet5(width=args.width), args.ratio, seed=args.seed, scope=args.scope,
                      edge_popup=args.edge_popup)
    with torch.no_grad():
        for layer in _biprop_layers(model):
            layer.scores.mul_(args.score_scale)
    start = time.perf_counter()
    train_biprop(model, x, y, epochs=args.epochs, lr=args.lr, batch_size=args.batch,
                 seed=args.seed)
    seconds = time.perf_counter() - start
    plain = export_biprop(model)
    print(f"ratio {args.ratio} epochs {args.epochs:g} lr {args.lr:g} batch {args.batch} "
          f"scope {args.scope} edge_popup {args.edge_popup} score_scale {args.score_scale:g} "
          f"width {args.width:g}: test {100 * evaluate(plain, xt, yt):.1f} "
          f"subset {100 * evaluate(plain, xt[subset], yt[subset]):.1f} "
          f"{seconds:.0f} s ({seconds / args.epochs:.1f} s/epoch)", flush=True)


if __name__ == "__main__":
    main()
