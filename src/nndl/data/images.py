"""Image data: :class:`ImageData`, the digits, MNIST/Fashion-MNIST, image files and folders,
and the Middlebury motorcycle stereo pair bundled with scikit-image.

Images are float32 tensors in [0, 1] of shape (N, C, H, W); labels are int64 of shape (N,).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._validation import NNDLError, ValidationError, check_in_range
from .idx import IDXError, read_idx
from .split import Split, split_arrays

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageData",
    "ImageFileError",
    "StereoPair",
    "load_dataset",
    "load_digits",
    "load_digits_split",
    "load_image",
    "load_image_folder",
    "load_mnist",
    "load_stereo_motorcycle",
    "save_image",
    "to_gray",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif")
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MNIST_HELP = {
    "mnist": "download the four files from the MNIST page (http://yann.lecun.com/exdb/mnist/ or "
    "a mirror) into that folder",
    "fashion-mnist": "download the four files from https://github.com/zalandoresearch/"
    "fashion-mnist (data/fashion) into that folder",
}


class ImageFileError(NNDLError, OSError):
    """An image file or folder that is missing or cannot be decoded."""


@dataclass
class ImageData:
    """A set of images with optional labels.

    Attributes:
        images: Tensor[N, C, H, W], float32 in [0, 1].
        labels: Tensor[N] int64, or None.
        levels: number of distinct intensity levels of the source (17 for digits, 256 for
            8-bit images), used to dequantise for density estimation; None if continuous.
        name: a short name for reports.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    levels: int | None
    name: str

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1 if self.labels is not None and len(self) else 0

    def split(self, val_fraction: float = 0.15, test_fraction: float = 0.2, seed: int = 0) -> Split:
        """A stratified, seeded train/val/test :class:`Split` (flattened features)."""
        return split_arrays(
            self.images.reshape(len(self), -1),
            self.labels,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
            image_shape=self.image_shape,
            levels=self.levels,
            name=self.name,
        )


def load_digits() -> ImageData:
    """scikit-learn's 1,797 handwritten digits as (1797, 1, 8, 8) images, pixel/16."""
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    return ImageData(images, torch.from_numpy(bunch.target.astype(np.int64)), 17, "digits")


def load_digits_split(
    seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.2
) -> Split:
    """The digits with a fixed, seeded, stratified train/val/test split (features pixel/16).

    With the defaults: 1,168 train, 270 val, 359 test images of 64 features.
    """
    return load_digits().split(val_fraction, test_fraction, seed)


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (directory / candidate).is_file():
            return directory / candidate
    return None


def load_mnist(
    directory: str | os.PathLike[str], split: str = "train", kind: str = "mnist"
) -> ImageData:
    """MNIST or Fashion-MNIST from a folder of the original IDX files (gzipped or not).

    Args:
        directory: folder holding ``train-images-idx3-ubyte[.gz]`` and the three other files.
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        kind: ``"mnist"`` or ``"fashion-mnist"`` (same file names; only the name differs).

    Returns:
        ImageData with images (N, 1, 28, 28) in [0, 1] and labels (N,).

    Raises:
        IDXError: a file is missing (the message says which and how to get it) or corrupt.
    """
    if split not in _MNIST_FILES:
        raise ValidationError(f"split must be 'train' or 'test', got {split!r}")
    if kind not in _MNIST_HELP:
        raise ValidationError(f"kind must be 'mnist' or 'fashion-mnist', got {kind!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise IDXError(f"{kind} folder {str(directory)!r} does not exist; {_MNIST_HELP[kind]}")
    arrays = []
    for stem in _MNIST_FILES[split]:
        path = _find(directory, stem)
        if path is None:
            raise IDXError(
                f"{kind} file {stem}[.gz] is missing in {str(directory)!r}; {_MNIST_HELP[kind]}"
            )
        arrays.append(read_idx(path))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise IDXError(
            f"{kind} files in {str(directory)!r} do not match: images {images.shape}, "
            f"labels {labels.shape}"
        )
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return ImageData(x, torch.from_numpy(labels.astype(np.int64)), 256, kind)


def load_image(path: str | os.PathLike[str], *, gray: bool = False) -> torch.Tensor:
    """Read a PNG/JPEG/… image as a float32 tensor (C, H, W) in [0, 1] (C = 1 when ``gray``).

    Raises:
        ImageFileError: the path is a folder, or the file is missing or cannot be decoded as
            an image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise ImageFileError(
            f"image file {str(path)!r} is a folder; give an image file (load_image_folder "
            "reads a whole folder)"
        )
    if not path.is_file():
        raise ImageFileError(f"image file {str(path)!r} does not exist")
    try:
        with Image.open(path) as img:
            img = img.convert("L" if gray else "RGB")
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageFileError(
            f"image file {str(path)!r} cannot be read as an image: {exc}"
        ) from None
    tensor = torch.from_numpy(arr.copy())
    return tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()


def to_gray(img: torch.Tensor) -> torch.Tensor:
    """Grey version of Tensor[B, C, H, W] (or Tensor[C, H, W]), keeping a channel axis of 1.

    Three channels are combined with the ITU-R BT.601 luma weights
    ``0.299 R + 0.587 G + 0.114 B``; any other channel count is averaged.

    Example:
        >>> to_gray(torch.ones(2, 3, 4, 5)).shape
        torch.Size([2, 1, 4, 5])
    """
    if not isinstance(img, torch.Tensor) or img.ndim not in (3, 4):
        got = tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__
        raise ValidationError(f"img must be a tensor (C, H, W) or (B, C, H, W), got {got}")
    axis = img.ndim - 3
    if img.shape[axis] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=img.dtype, device=img.device)
        shape = (3, 1, 1) if axis == 0 else (1, 3, 1, 1)
        return (img * weights.view(shape)).sum(axis, keepdim=True)
    return img.mean(axis, keepdim=True)


def save_image(path: str | os.PathLike[str], image: torch.Tensor) -> Path:
    """Write Tensor[C, H, W] (C = 1 or 3) or Tensor[H, W] in [0, 1] as an 8-bit PNG, atomically.

    The path is checked before any work (a folder, or a parent that is a file, is refused);
    values are clipped to [0, 1] and rounded.

    Raises:
        ValidationError: not a ``.png`` path, a bad shape, or non-finite values.
        OutputPathError: ``path`` cannot be written.
    """
    import io

    from PIL import Image

    from .._io import atomic_write, check_output_file

    target = check_output_file(path, name="image file")
    if target.suffix.lower() != ".png":
        raise ValidationError(f"image file must end in .png, got {str(target)!r}")
    if not isinstance(image, torch.Tensor):
        raise ValidationError(f"image must be a torch.Tensor, got {type(image).__name__}")
    img = image.unsqueeze(0) if image.ndim == 2 else image
    if img.ndim != 3 or img.shape[0] not in (1, 3) or min(img.shape[1:]) < 1:
        raise ValidationError(
            f"image must have shape (H, W), (1, H, W) or (3, H, W), got {tuple(image.shape)}"
        )
    if not img.is_floating_point() or not bool(torch.isfinite(img).all()):
        raise ValidationError("image must be a finite floating-point tensor with values in [0, 1]")
    arr = (img.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(buffer, format="PNG")
    return atomic_write(target, lambda handle: handle.write(buffer.getvalue()))


def load_image_folder(
    directory: str | os.PathLike[str], *, size: tuple[int, int] | None = None, gray: bool = True
) -> ImageData:
    """Every image file in a folder (sorted by name), resized to ``size`` (H, W) if given.

    Images of different sizes need ``size``. Labels are None.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ImageFileError(f"image folder {str(directory)!r} does not exist")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageFileError(
            f"image folder {str(directory)!r} holds no image files ({', '.join(IMAGE_SUFFIXES)})"
        )
    images = []
    for f in files:
        img = load_image(f, gray=gray)
        if size is not None:
            img = torch.nn.functional.interpolate(
                img[None], size=size, mode="bilinear", align_corners=False, antialias=True
            )[0].clamp(0, 1)
        images.append(img)
    shapes = {tuple(i.shape) for i in images}
    if len(shapes) > 1:
        raise ImageFileError(
            f"images in {str(directory)!r} have different sizes {sorted(shapes)[:3]}…; pass size"
        )
    return ImageData(torch.stack(images), None, 256, directory.name)


@dataclass
class StereoPair:
    """A rectified stereo pair with ground-truth disparity.

    Attributes:
        left, right: Tensor[3, H, W] float32 in [0, 1].
        disparity: Tensor[H, W] float32, left pixel x matches right pixel x − d; +inf where the
            ground truth is unknown.
    """

    left: torch.Tensor
    right: torch.Tensor
    disparity: torch.Tensor

    @property
    def valid(self) -> torch.Tensor:
        """Boolean mask (H, W) of pixels with a finite ground-truth disparity."""
        return torch.isfinite(self.disparity)


def load_stereo_motorcycle() -> StereoPair:
    """The Middlebury 2014 motorcycle pair shipped with scikit-image (500 × 741)."""
    from skimage import data

    left, right, disparity = data.stereo_motorcycle()

    def to_tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()

    return StereoPair(
        to_tensor(left), to_tensor(right), torch.from_numpy(disparity.astype(np.float32))
    )


def load_dataset(spec: str, *, split: str = "train", image_size: int | None = None) -> ImageData:
    """An image data set from a spec string, as the CLI takes it.

    Args:
        spec: ``"digits"``, ``"mnist:DIR"``, ``"fashion-mnist:DIR"`` or ``"folder:DIR"``.
        split: for MNIST-like data, ``"train"`` or ``"test"``.
        image_size: for ``folder:``, resize every image to ``image_size`` × ``image_size``.
    """
    kind, _, arg = spec.partition(":")
    if kind == "digits" and not arg:
        return load_digits()
    if kind in ("mnist", "fashion-mnist") and arg:
        return load_mnist(arg, split=split, kind=kind)
    if kind == "folder" and arg:
        if image_size is not None:
            check_in_range(image_size, name="image_size", low=1)
        return load_image_folder(arg, size=(image_size, image_size) if image_size else None)
    raise ValidationError(
        f"data must be 'digits', 'mnist:DIR', 'fashion-mnist:DIR' or 'folder:DIR', got {spec!r}"
    )
