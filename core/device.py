"""Where the build's networks run: ``python -m core build --device auto|cpu|cuda``.

A :class:`Device` is what a task needs to know about it: the torch device its tensors go to
(``kind``), and whether the build runs its *device branch* — the layout of work for an
accelerator (``dedicated``):

- the network-bound tasks (training, pruning scores, MPT, evaluation) go to one device worker
  process that holds the accelerator and its models
  (:class:`core.pipeline.executors.PoolExecutor`); the CPU workers keep what needs no network
  (the dimension study's small LeNets, per-benchmark placements);
- evaluation batches grow from 1,000 to :data:`DEVICE_EVALUATE_BATCH_SIZE` images;
- batches are copied to the device from pinned (page-locked) memory, without waiting.

Why one device worker: every process that touches CUDA holds its own context (hundreds of MB of
GPU memory) and processes sharing one GPU take turns on it, so several workers on one GPU add
memory and switching without adding throughput; one process fed large batches keeps the GPU
busy, while the CPU cores serve the steps that run no network.

On a machine without CUDA the branch can still be forced with ``Device("cpu", dedicated=True)``
(the tests do, to compare its tables with the plain CPU build's); only the pinned copies are
skipped there, since page-locked memory needs the CUDA driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["Device", "resolve_device", "as_device", "DEVICE_CHOICES",
           "CPU_EVALUATE_BATCH_SIZE", "DEVICE_EVALUATE_BATCH_SIZE"]

DEVICE_CHOICES = ("auto", "cpu", "cuda")

# Images per forward pass of the evaluation. On the CPU large batches amortise the per-call
# overhead of small networks until the activations leave the caches (bench/evaluate.py); a GPU
# needs far larger batches to fill its cores, and 8,192 32 × 32 RGB images are 100 MB of input.
CPU_EVALUATE_BATCH_SIZE = 1000
DEVICE_EVALUATE_BATCH_SIZE = 8192


@dataclass(frozen=True)
class Device:
    """A torch device ``kind`` (``"cpu"`` or ``"cuda"``) and whether the device branch is used
    (``dedicated``; see the module docstring). Picklable: tasks receive it as an argument."""

    kind: str = "cpu"
    dedicated: bool = False

    def __post_init__(self):
        if self.kind not in ("cpu", "cuda"):
            raise ValueError(f"`kind` must be 'cpu' or 'cuda'. Got {self.kind!r} instead.")

    @property
    def torch(self) -> torch.device:
        import torch     # imported on use: the CLI and the executors load this module early

        return torch.device(self.kind)

    @property
    def evaluate_batch_size(self) -> int:
        return DEVICE_EVALUATE_BATCH_SIZE if self.dedicated else CPU_EVALUATE_BATCH_SIZE

    def move(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` on this device: through pinned memory and without blocking the host when
        the device is a GPU (the copy overlaps the work already queued on it)."""
        if self.kind == "cuda" and tensor.device.type == "cpu":
            return tensor.pin_memory().to(self.torch, non_blocking=True)
        return tensor.to(self.torch)


def resolve_device(choice: str = "auto") -> Device:
    """The :class:`Device` of a ``--device`` choice: ``auto`` is CUDA when
    ``torch.cuda.is_available()`` and the CPU otherwise; ``cuda`` on a machine without CUDA
    raises ``ValueError`` saying so. A CUDA device always uses the device branch."""
    import torch

    if choice not in DEVICE_CHOICES:
        raise ValueError(f"`device` must be one of {', '.join(DEVICE_CHOICES)}. Got {choice!r} "
                         "instead.")
    available = torch.cuda.is_available()
    if choice == "cuda" and not available:
        built = torch.version.cuda
        raise ValueError("--device cuda needs a CUDA GPU, and torch.cuda.is_available() is "
                         "False on this machine (torch " + torch.__version__
                         + (f", built for CUDA {built}" if built else ", built without CUDA")
                         + "). Use --device cpu or --device auto.")
    if choice == "cuda" or (choice == "auto" and available):
        return Device("cuda", dedicated=True)
    return Device("cpu")


def as_device(device: Device | str) -> Device:
    """A task's ``device`` argument as a :class:`Device` (a plain ``"cpu"``/``"cuda"`` string
    names that device without the device branch: the Ray executor's workers, each given a GPU
    of their own, run the plain path)."""
    return device if isinstance(device, Device) else Device(str(device))
