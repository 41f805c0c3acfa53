"""Seeded, stratified train/validation/test splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import ValidationError, check_in_range

__all__ = ["Split", "split_arrays"]


@dataclass
class Split:
    """Train/val/test tensors of one data set.

    Attributes:
        x_train, x_val, x_test: Tensor[N, D] float32 (images flattened; see ``image_shape``).
        y_train, y_val, y_test: Tensor[N] int64 labels (None for unlabelled data).
        image_shape: (C, H, W) of the images, or None for tabular data.
        levels: number of intensity levels of the source (17 for digits), or None.
        name: data set name.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor | None
    x_val: torch.Tensor
    y_val: torch.Tensor | None
    x_test: torch.Tensor
    y_test: torch.Tensor | None
    image_shape: tuple[int, int, int] | None = None
    levels: int | None = None
    name: str = ""

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_classes(self) -> int:
        labels = [y for y in (self.y_train, self.y_val, self.y_test) if y is not None and len(y)]
        return int(max(int(y.max()) for y in labels)) + 1 if labels else 0

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """Reshape flat features (N, D) back to images (N, C, H, W)."""
        if self.image_shape is None:
            raise ValidationError(f"data set {self.name!r} has no image shape")
        return x.reshape(-1, *self.image_shape)

    def to(self, device: torch.device | str) -> Split:
        """A copy with every tensor on ``device``."""
        moved: dict[str, Any] = {
            k: (v.to(device) if isinstance(v, torch.Tensor) else v)
            for k, v in self.__dict__.items()
        }
        return Split(**moved)


def split_arrays(
    x: torch.Tensor,
    y: torch.Tensor | None,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    image_shape: tuple[int, int, int] | None = None,
    levels: int | None = None,
    name: str = "",
) -> Split:
    """Split (x, y) into train/val/test, stratified by y when given, reproducibly for ``seed``."""
    from sklearn.model_selection import train_test_split

    check_in_range(val_fraction, name="val_fraction", low=0.0, high=1.0, high_inclusive=False)
    check_in_range(test_fraction, name="test_fraction", low=0.0, high=1.0, high_inclusive=False)
    if val_fraction + test_fraction >= 1.0:
        raise ValidationError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction}"
        )
    n = x.shape[0]
    index = np.arange(n)
    labels = y.numpy() if y is not None else None
    rest, test = (
        train_test_split(index, test_size=test_fraction, random_state=seed, stratify=labels)
        if test_fraction > 0
        else (index, index[:0])
    )
    val_share = val_fraction / (1.0 - test_fraction)
    train, val = (
        train_test_split(
            rest,
            test_size=val_share,
            random_state=seed + 1,
            stratify=labels[rest] if labels is not None else None,
        )
        if val_fraction > 0
        else (rest, rest[:0])
    )

    def take(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        t = torch.from_numpy(np.sort(idx))
        return x[t].contiguous(), (y[t].contiguous() if y is not None else None)

    (xtr, ytr), (xva, yva), (xte, yte) = take(train), take(val), take(test)
    return Split(xtr, ytr, xva, yva, xte, yte, image_shape, levels, name)
