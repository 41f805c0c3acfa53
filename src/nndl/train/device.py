"""One device resolver for the whole library: :func:`resolve_device`."""

from __future__ import annotations

from typing import Any

import torch

from .._validation import DTypeError, ValidationError

__all__ = ["resolve_device"]


def resolve_device(device: Any) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``torch.device`` → a ``torch.device`` usable here.

    Args:
        device: a device name or ``torch.device``; only CPU and CUDA devices are accepted.

    Returns:
        The ``torch.device`` (``"cuda"`` keeps no index, so it means the current GPU).

    Raises:
        DTypeError: ``device`` is neither a string nor a ``torch.device``.
        ValidationError: an unknown device name or type, CUDA asked for where
            ``torch.cuda.is_available()`` is False, or a CUDA index beyond the GPUs present.
    """
    if not isinstance(device, str | torch.device):
        raise DTypeError(
            f"device must be a string such as 'cpu' or 'cuda[:N]' or a torch.device, got "
            f"{type(device).__name__} {device!r}"
        )
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValidationError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValidationError("device 'cuda' was asked for, but torch.cuda.is_available() is False")
    if dev.type not in ("cpu", "cuda"):
        raise ValidationError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    if dev.type == "cuda" and dev.index is not None:
        count = torch.cuda.device_count()
        if dev.index >= count:
            raise ValidationError(
                f"device {device!r} does not exist: this machine has {count} CUDA device(s) "
                f"(cuda:0 … cuda:{count - 1})"
            )
    return dev
