"""Seeded training and evaluation loops, shared by dense training, retraining and MPT score search."""

from __future__ import annotations

import hashlib
import json
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = ["fit", "evaluate", "to_input", "config_hash", "seed_everything"]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images (N,H,W) or (N,H,W,C) → float32 (N,C,H,W) in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        array = np.asarray(images)
        # Memory-mapped benchmark files are read-only; torch needs a writable buffer.
        x = torch.from_numpy(array if array.flags.writeable else array.copy())
    else:
        x = images
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        x = x.permute(0, 3, 1, 2)
    else:
        raise ValueError(f"`images` must be (N,H,W) or (N,H,W,C). Got shape {tuple(x.shape)}.")
    return x.float().div_(255.0).contiguous()


def config_hash(config: dict) -> str:
    """Stable short hash of a JSON-serialisable config (keys sorted)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: float = 1.0,
        lr: float = 0.01, optimizer: str = "sgd", momentum: float = 0.9,
        weight_decay: float = 5e-4, batch_size: int = 128, seed: int = 0,
        params: Iterable[torch.nn.Parameter] | None = None, cosine: bool = True,
        after_step: Callable[[], None] | None = None, progress: bool = True,
        desc: str = "train", loss: str = "ce") -> list[float]:
    """Train with cross-entropy, or with another ``loss`` of ``core.losses.LOSSES`` (registry
    models only: the loss reads the features). ``epochs`` may be fractional (e.g. 0.5 = half an
    epoch).

    ``params`` restricts the optimised parameters (MPT trains scores only); ``after_step`` runs
    after every optimizer step (e.g. to re-apply a mask). Returns the loss per step.
    """
    from .features import features_and_logits, head_of
    from .losses import make_loss

    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"`optimizer` must be 'sgd' or 'adam'. Got {optimizer!r} instead.")
    loss_fn = make_loss(loss, head_of(model))
    params = [p for p in (model.parameters() if params is None else params) if p.requires_grad]
    params += list(loss_fn.parameters())      # the centre loss learns its class centres
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    steps_per_epoch = max(1, (n + batch_size - 1) // batch_size)
    total = max(1, int(round(epochs * steps_per_epoch)))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total) if cosine else None
    losses: list[float] = []
    # Channels-last convolutions skip a layout conversion in every call (CPU oneDNN): resnet_small
    # trains about twice as fast. The weights return to the standard layout afterwards (pruning
    # flattens them with views).
    channels_last = any(isinstance(m, nn.Conv2d) for m in model.modules()) and x.ndim == 4
    if channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False, unit="step")
    step = 0
    while step < total:
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb = x[idx].contiguous(memory_format=torch.channels_last) if channels_last else x[idx]
            opt.zero_grad(set_to_none=True)
            if loss == "ce":
                batch_loss = loss_fn(None, model(xb), y[idx])
            else:
                batch_loss = loss_fn(*features_and_logits(model, xb), y[idx])
            batch_loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if after_step is not None:
                after_step()
            losses.append(batch_loss.item())
            step += 1
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
            if step >= total:
                break
    bar.close()
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    finish = getattr(loss_fn, "fold_into_head", None)
    if callable(finish):
        finish()
    model.eval()
    return losses


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024) -> float:
    """Top-1 accuracy in [0, 1]."""
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        correct += int((model(x[start:start + batch_size]).argmax(1) == y[start:start + batch_size]).sum())
    return correct / max(1, x.shape[0])
