"""Model registry: LeNet-5, a small ResNet for 28×28 inputs, VGG-16 and ResNet-18 (CIFAR form),
any torchvision classifier as
``tv:NAME``, their JSON configs and validated state-dict loading.

Every registry model splits its forward pass at the head, the final ``nn.Linear``:
``forward_features(x)`` → X (N, m), the head's input, and ``forward_head(X)`` → logits (N, C).
``core.features`` reads the geometry through that split (``head_of``, ``head_parameters`` and
``features_and_logits`` live there and are re-exported here).
"""

from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .features import features_and_logits, head_of, head_parameters
from .model_configs import arch_config

__all__ = [
    "MODELS",
    "build_model",
    "register_model",
    "arch_config",
    "model_from_config",
    "load_weights",
    "head_of",
    "head_parameters",
    "features_and_logits",
    "load_state_dict_file",
    "shrink_to_state_dict",
    "forward_macs",
    "HeadSplitClassifier",
    "LeNet5",
    "VGG16",
    "ResNet18",
    "ResNetSmall",
]

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    def deco(fn):
        MODELS[name] = fn
        return fn
    return deco


def _w(n: int, width: float) -> int:
    return max(1, int(round(n * width)))


class HeadSplitClassifier(nn.Module):
    """A classifier whose forward pass is ``forward_head(forward_features(x))``.

    Subclasses define ``forward_features`` (images (N, C, H, W) → features (N, m)) and a
    ``classifier`` ``nn.Linear`` (m → num_classes), the head.
    """

    classifier: nn.Linear
    # Whether inference runs faster on channels-last inputs and weights (CPU oneDNN): true for
    # stacks of convolutions; a subclass whose pooling prefers the standard layout says False.
    channels_last_inference = True

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of features (N, m)."""
        return self.classifier(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class MaxPool2x2(nn.Module):
    """``nn.MaxPool2d(2)``; without gradients computed as the elementwise maximum of the four
    strided 2×2 views.

    Same values (a trailing odd row or column is dropped, as there). Inference on the CPU is 3–6×
    faster than ``max_pool2d``, which also finds argmax indices: LeNet-5 spent 40 % of its
    forward pass in pooling. With gradients (training, attribution) it is ``max_pool2d`` itself,
    whose backward pass is the faster one, and whose gradient at ties is the reference.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return F.max_pool2d(x, 2)
        x = x[..., :x.shape[-2] // 2 * 2, :x.shape[-1] // 2 * 2]
        return torch.maximum(torch.maximum(x[..., ::2, ::2], x[..., 1::2, ::2]),
                             torch.maximum(x[..., ::2, 1::2], x[..., 1::2, 1::2]))


class LeNet5(HeadSplitClassifier):
    """The classic LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling: conv6-pool-conv16-pool-
    fc120-fc84-fc(C). 28×28 inputs are padded by 2 so the first conv sees 32×32 as in the original."""

    # Its strided pooling (MaxPool2x2) reads the standard layout faster: 43 against 50 µs per
    # 28×28 image in channels-last (bench/evaluate.py).
    channels_last_inference = False

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: float = 1.0,
                 input_size: int = 28, feature_dim: int | None = None,
                 linear_features: bool | None = None):
        super().__init__()
        pad = 2 if input_size == 28 else 0
        c1, c2, f1 = _w(6, width), _w(16, width), _w(120, width)
        # ``feature_dim`` sets the penultimate width m (the head's input) on its own: the
        # curse-of-dimensionality study and the 2-D guide network vary m alone.
        f2 = _w(84, width) if feature_dim is None else int(feature_dim)
        # ``linear_features``: no ReLU on the features, so a 2-D feature may lie in any quadrant
        # (the guide's network; with the ReLU, 2-D features crowd into one quadrant and die).
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=pad), nn.ReLU(), MaxPool2x2(),
            nn.Conv2d(c1, c2, 5), nn.ReLU(), MaxPool2x2(), nn.Flatten())
        side = ((input_size + 2 * pad - 4) // 2 - 4) // 2
        self.encoder = nn.Sequential(nn.Linear(c2 * side * side, f1), nn.ReLU(),
                                     nn.Linear(f1, f2), *([] if linear_features else [nn.ReLU()]))
        self.classifier = nn.Linear(f2, num_classes)

    def forward_features(self, x):
        return self.encoder(self.features(x))


_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16(HeadSplitClassifier):
    """VGG-16 in its CIFAR form (BatchNorm, 3×3 convs, one linear head on the 512-d feature)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: float = 1.0,
                 input_size: int = 32):
        super().__init__()
        layers: list[nn.Module] = [nn.ZeroPad2d((32 - input_size) // 2)] if input_size < 32 else []
        c = in_channels
        for v in _VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                out = _w(v, width)
                layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                           nn.ReLU(inplace=True)]
                c = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward_features(self, x):
        return self.features(x)


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(HeadSplitClassifier):
    """ResNet-18 in its CIFAR form: 3×3 stem, no max-pool, four stages of two basic blocks."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: float = 1.0,
                 input_size: int = 32):
        super().__init__()
        pad = [nn.ZeroPad2d((32 - input_size) // 2)] if input_size < 32 else []
        c = _w(64, width)
        self.stem = nn.Sequential(*pad, nn.Conv2d(in_channels, c, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        blocks = []
        for i, stage in enumerate([64, 128, 256, 512]):
            out = _w(stage, width)
            for j in range(2):
                blocks.append(_BasicBlock(c, out, 2 if (i > 0 and j == 0) else 1))
                c = out
        self.layers = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c, num_classes)

    def forward_features(self, x):
        return self.layers(self.stem(x))


class ResNetSmall(HeadSplitClassifier):
    """A small residual network for 28×28 inputs (MNIST-like): a 3×3 stem, three stages of
    ``blocks`` basic blocks at 8, 16 and 32 channels (times ``width``) on 28×28, 14×14 and 7×7
    maps, global average pooling and one linear head on the 32-d feature. About 20 k parameters
    at width 1 — the residual counterpart of LeNet-5 (61 k) in the demo."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: float = 1.0,
                 input_size: int = 28, blocks: int = 1):
        super().__init__()
        if isinstance(blocks, bool) or int(blocks) != blocks or blocks < 1:
            raise ValueError(f"`blocks` must be a positive integer. Got {blocks!r} instead.")
        c = _w(8, width)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        layers = []
        for i, stage in enumerate([8, 16, 32]):
            out = _w(stage, width)
            for j in range(int(blocks)):
                layers.append(_BasicBlock(c, out, 2 if (i > 0 and j == 0) else 1))
                c = out
        self.layers = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c, num_classes)

    def forward_features(self, x):
        return self.layers(self.stem(x))


register_model("lenet5")(LeNet5)
register_model("resnet_small")(ResNetSmall)
register_model("vgg16")(VGG16)
register_model("resnet18")(ResNet18)


def build_model(arch: str, *, in_channels: int, num_classes: int, width: float = 1.0,
                input_size: int = 28, weights: str | Path | None = None,
                **options) -> nn.Module:
    """Construct a registry model, or any torchvision classifier as ``tv:NAME``.

    torchvision models are built with ``weights=None`` (never downloaded); pass ``weights`` — a local
    state-dict file — to load trained parameters. ``options`` are the registry model's own keyword
    arguments (e.g. ``feature_dim`` of LeNet-5).
    """
    if arch.startswith("tv:"):
        import torchvision

        name = arch[3:]
        try:
            model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
        except ValueError as exc:
            raise ValueError(f"Unknown torchvision model {name!r}: {exc}") from exc
    elif arch in MODELS:
        model = MODELS[arch](in_channels=in_channels, num_classes=num_classes, width=width,
                             input_size=input_size, **options)
    else:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"`arch` must be one of {known} or 'tv:<torchvision name>'. "
                         f"Got {arch!r} instead.")
    return model if weights is None else load_weights(model, weights, arch=arch)


def load_weights(model: nn.Module, weights: str | Path | Mapping[str, torch.Tensor], *,
                 arch: str = "?", shrink: bool = True) -> nn.Module:
    """Load ``weights`` into ``model`` (in place; returns it): a state-dict file (validated, see
    :func:`load_state_dict_file`; ``arch`` names the architecture in its messages) or a state
    dict. ``shrink``: first resize the layers to the stored shapes, as a structurally pruned
    checkpoint needs (:func:`shrink_to_state_dict`); without it a checkpoint of other shapes is
    refused by ``load_state_dict``'s ``RuntimeError``.

    The one way the project loads trained weights (the build, its tasks, ``add-model``,
    ``import`` and the app all come here through :func:`model_from_config` or
    :func:`build_model`). Weights saved with ``torch.nn.utils.prune`` masks attached
    (``<layer>.weight_orig`` and ``<layer>.weight_mask``) load as the plain weights they stand
    for, from a file or a state dict alike.
    """
    state = (_fold_pruning_masks(dict(weights)) if isinstance(weights, Mapping)
             else load_state_dict_file(weights, arch=arch))
    if shrink:
        shrink_to_state_dict(model, state)
    model.load_state_dict(state)
    return model


def model_from_config(config: str, weights: str | Path | Mapping[str, torch.Tensor] | None = None,
                      *, shrink: bool = True) -> nn.Module:
    """The model of an :func:`arch_config` JSON string, with ``weights`` (a state-dict file or
    a state dict) loaded when given; ``shrink`` as in :func:`load_weights`."""
    settings = json.loads(config)
    model = build_model(**settings)
    if weights is None:
        return model
    return load_weights(model, weights, arch=settings["arch"], shrink=shrink)


def forward_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass of one input of ``input_shape`` (C, H, W) in the
    model's ``nn.Conv2d`` and ``nn.Linear`` layers — the bulk of its cost, to order work by."""
    total = 0

    def count(module: nn.Module, inputs, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups
            for size in module.kernel_size:
                per_output *= size
            total += output.numel() * per_output
        else:
            total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def load_state_dict_file(path: str | Path, *, arch: str = "?") -> dict[str, torch.Tensor]:
    """Load a state dict with ``weights_only=True``; pickled payloads are refused. Weights
    saved with ``torch.nn.utils.prune`` masks attached come back as plain weights."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist (expected a state dict saved "
                                "with torch.save(model.state_dict(), path)).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError and friends
        raise ValueError(f"Checkpoint {path} is not a plain state dict loadable with "
                         f"weights_only=True (it may carry a pickled payload): {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"Checkpoint {path} must hold a dict of tensors (a state dict for "
                         f"architecture {arch}).")
    return _fold_pruning_masks(state)


def _fold_pruning_masks(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict saved while ``torch.nn.utils.prune`` masks were attached holds
    ``<layer>.weight_orig`` and ``<layer>.weight_mask`` instead of ``<layer>.weight``; the
    weight the network uses is their product (what ``prune.remove`` would have stored)."""
    folded = {}
    for key, value in state.items():
        if key.endswith("_mask") and key[:-5] + "_orig" in state:
            continue
        if key.endswith("_orig") and key[:-5] + "_mask" in state:
            folded[key[:-5]] = value * state[key[:-5] + "_mask"]
        else:
            folded[key] = value
    return folded


def shrink_to_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Resize ``model``'s layers in place to the shapes stored in ``state``, so that
    ``model.load_state_dict(state)`` succeeds; returns ``model``.

    Structurally pruned checkpoints (see docs/pruning.md, Structured pruning) hold the same
    architecture with fewer channels: every ``nn.Conv2d``, ``nn.Linear`` and BatchNorm whose
    stored weight has another shape is replaced by a fresh layer of the stored shape (same kernel,
    stride, padding, dilation, bias and norm settings; a depthwise convolution stays depthwise).
    Layers whose shapes match are left alone, so this is a no-op for ordinary checkpoints. The
    new layers' values are whatever ``load_state_dict`` then copies in.
    """
    for name, module in list(model.named_modules()):
        if not isinstance(module, (nn.Conv2d, nn.Linear, nn.modules.batchnorm._BatchNorm)):
            continue
        # A BatchNorm without affine parameters is sized by its running mean.
        key = "weight" if module.weight is not None else "running_mean"
        weight, current = state.get(f"{name}.{key}" if name else key), getattr(module, key)
        if weight is None or current is None or weight.shape == current.shape:
            continue
        if isinstance(module, nn.Conv2d):
            depthwise = module.groups > 1 and module.groups == module.in_channels == \
                module.out_channels
            groups = weight.shape[0] if depthwise else module.groups
            new = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], module.kernel_size,
                            stride=module.stride, padding=module.padding,
                            dilation=module.dilation, groups=groups,
                            bias=module.bias is not None, padding_mode=module.padding_mode)
        elif isinstance(module, nn.Linear):
            new = nn.Linear(weight.shape[1], weight.shape[0], bias=module.bias is not None)
        else:
            new = type(module)(weight.shape[0], eps=module.eps, momentum=module.momentum,
                               affine=module.affine,
                               track_running_stats=module.track_running_stats)
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name), attr, new)
    return model
