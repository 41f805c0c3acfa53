"""Data: the embedded defaults (digits, iris, wine, breast_cancer, the motorcycle stereo pair),
MNIST/Fashion-MNIST from local IDX files, and user images."""

from .idx import IDXError, read_idx, write_idx
from .images import (
    IMAGE_SUFFIXES,
    ImageData,
    ImageFileError,
    StereoPair,
    load_dataset,
    load_digits,
    load_digits_split,
    load_image,
    load_image_folder,
    load_mnist,
    load_stereo_motorcycle,
)
from .sequences import ADDING_BASELINE_MSE, adding_problem
from .split import Split, split_arrays
from .tabular import TABULAR_DATASETS, TabularData, load_tabular

__all__ = [
    "ADDING_BASELINE_MSE",
    "IMAGE_SUFFIXES",
    "TABULAR_DATASETS",
    "IDXError",
    "ImageData",
    "ImageFileError",
    "Split",
    "StereoPair",
    "TabularData",
    "adding_problem",
    "load_dataset",
    "load_digits",
    "load_digits_split",
    "load_image",
    "load_image_folder",
    "load_mnist",
    "load_stereo_motorcycle",
    "load_tabular",
    "read_idx",
    "split_arrays",
    "write_idx",
]
