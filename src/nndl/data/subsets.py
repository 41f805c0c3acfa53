r"""Small, class-balanced subsets of an image data set, and resizing.

Experiments that must *overfit* (pooling, P1) or that train many seeds quickly need a small
training set drawn the same way every time: :func:`balanced_subsets` shuffles each class with
a seeded generator and deals the images out class by class (round robin), so any prefix of the
order holds the classes in equal shares (up to one image); the first ``n_train`` images form
the training set, the next ``n_val`` the validation set and the next ``n_test`` the test set.
The three are disjoint by construction.

:func:`center_crop` keeps the central window and :func:`resize_images` changes the resolution
of a batch (anti-aliased when shrinking; bilinear when enlarging), e.g. MNIST 28 × 28 → 14 × 14
to cut the cost of a CNN
by four.

Example:
    >>> import torch
    >>> from nndl.data import ImageData
    >>> data = ImageData(torch.rand(40, 1, 8, 8), torch.arange(40) % 4, None, "toy")
    >>> split = balanced_subsets(data, n_train=8, n_test=12, seed=0)
    >>> split.x_train.shape, torch.bincount(split.y_train).tolist()
    (torch.Size([8, 64]), [2, 2, 2, 2])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._seed import torch_generator
from .._validation import ValidationError, check_int, check_shape
from .images import ImageData, load_dataset
from .mnist5k import load_mnist_5k
from .split import Split

__all__ = [
    "balanced_order",
    "balanced_subsets",
    "center_crop",
    "load_image_subsets",
    "resize_images",
]


def balanced_order(labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A seeded order of the indices in which every prefix is class-balanced.

    Each class's indices are shuffled (one generator seeded with ``seed``), then dealt out in
    rounds: the first index of every class (classes in increasing order), then the second, …;
    classes that run out drop out of later rounds.

    Args:
        labels: Tensor[N] int64 class indices.
        seed: seeds the shuffles.

    Returns:
        Tensor[N] int64, a permutation of ``0 … N−1``.

    Raises:
        ShapeError: ``labels`` is not one-dimensional.
        ValidationError: ``labels`` is empty, not integer or has negative entries.
    """
    check_shape(labels, "N", name="labels")
    if labels.numel() == 0:
        raise ValidationError("labels must hold at least one label, got none")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or int(labels.min()) < 0:
        raise ValidationError(
            f"labels must be non-negative integer class indices, got dtype {labels.dtype}"
        )
    gen = torch_generator(seed)
    per_class = []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        per_class.append(idx[torch.randperm(len(idx), generator=gen)])
    rounds = max(len(idx) for idx in per_class)
    order = [idx[r : r + 1] for r in range(rounds) for idx in per_class]
    return torch.cat(order)


def balanced_subsets(
    data: ImageData, *, n_train: int, n_test: int, n_val: int = 0, seed: int = 0
) -> Split:
    """Disjoint, class-balanced train / val / test subsets of a labelled image set.

    Args:
        data: labelled images, e.g. :func:`~nndl.data.load_mnist_5k`.
        n_train: training images (≥ 1).
        n_test: test images (≥ 1).
        n_val: validation images (≥ 0).
        seed: seeds the draw (:func:`balanced_order`).

    Returns:
        :class:`~nndl.data.Split` with flat features Tensor[n, C·H·W] (``split.images(x)``
        gives them back as Tensor[n, C, H, W]), the labels and ``image_shape``.

    Raises:
        ValidationError: no labels, or ``n_train + n_val + n_test`` exceeds the data set.
    """
    check_int(n_train, name="n_train", low=1)
    check_int(n_test, name="n_test", low=1)
    check_int(n_val, name="n_val", low=0)
    if data.labels is None:
        raise ValidationError(f"data must be labelled, got {data.name!r} without labels")
    total = n_train + n_val + n_test
    if total > len(data):
        raise ValidationError(
            f"n_train + n_val + n_test must be at most the {len(data)} images of "
            f"{data.name!r}, got {n_train} + {n_val} + {n_test} = {total}"
        )
    order = balanced_order(data.labels, seed)
    parts = (order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val : total])
    flat = data.images.reshape(len(data), -1)
    train, val, test = ((flat[p], data.labels[p]) for p in parts)
    return Split(
        train[0],
        train[1],
        val[0],
        val[1],
        test[0],
        test[1],
        image_shape=data.image_shape,
        levels=data.levels,
        name=data.name,
    )


def resize_images(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize Tensor[N, C, H, W] to ``size`` (anti-aliased bilinear; area-like when shrinking).

    Args:
        images: Tensor[N, C, H, W], floating point.
        size: the new (H, W), or one int for a square.

    Returns:
        Tensor[N, C, size_h, size_w] of the same dtype; the input itself if the size is equal.

    Raises:
        ShapeError: ``images`` is not 4-D.
        ValidationError: a size < 1 or non-floating images.
    """
    check_shape(images, "N C H W", name="images")
    if not images.dtype.is_floating_point:
        raise ValidationError(f"images must be floating point, got {images.dtype}")
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    check_int(h, name="size[0]", low=1)
    check_int(w, name="size[1]", low=1)
    if (h, w) == tuple(images.shape[-2:]):
        return images
    return F.interpolate(images, size=(h, w), mode="bilinear", align_corners=False, antialias=True)


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` × ``size`` window of Tensor[N, C, H, W] (MNIST digits fill the
    central 20 × 20 of their 28 × 28 frame).

    Raises:
        ShapeError: ``images`` is not 4-D.
        ValidationError: ``size`` < 1 or larger than the images.
    """
    check_shape(images, "N C H W", name="images")
    h, w = images.shape[-2:]
    check_int(size, name="size", low=1, high=min(h, w))
    top, left = (h - size) // 2, (w - size) // 2
    return images[..., top : top + size, left : left + size]


def load_image_subsets(
    spec: str,
    *,
    n_train: int,
    n_test: int,
    seed: int = 0,
    crop: int | None = None,
    size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A small, class-balanced image task: load, draw subsets, crop and resize.

    Args:
        spec: ``"mnist-5k"`` (:func:`~nndl.data.load_mnist_5k`, real MNIST without a download)
            or any :func:`~nndl.data.load_dataset` spec (``"digits"``, ``"mnist:DIR"``, …).
        n_train, n_test: images in each subset (:func:`balanced_subsets`).
        seed: seeds the draw.
        crop: keep the central ``crop`` × ``crop`` window first (None: all of it).
        size: then resize to ``size`` × ``size`` (None: keep the size).

    Returns:
        ``(x_train, y_train, x_test, y_test)``: images Tensor[N, C, H, W] float32 and labels
        Tensor[N] int64.

    Raises:
        ValidationError: an unknown spec, subsets larger than the data, a bad crop or size.
    """
    data = load_mnist_5k() if spec == "mnist-5k" else load_dataset(spec)
    split = balanced_subsets(data, n_train=n_train, n_test=n_test, seed=seed)

    def prepare(x: torch.Tensor) -> torch.Tensor:
        images = split.images(x)
        images = center_crop(images, crop) if crop is not None else images
        return resize_images(images, size) if size is not None else images

    assert split.y_train is not None and split.y_test is not None  # labelled by construction
    return prepare(split.x_train), split.y_train, prepare(split.x_test), split.y_test
