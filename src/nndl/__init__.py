"""nndl: deep-learning fundamentals as tested PyTorch components.

Subpackages (import what you use; importing ``nndl`` itself is cheap):

- :mod:`nndl.data` — digits, iris, wine, breast_cancer, the motorcycle stereo pair, MNIST IDX files.
- :mod:`nndl.train` — the shared :class:`~nndl.train.Trainer`, safetensors checkpoints, DDP.
- :mod:`nndl.nn` — activations, initialisers and network builders.
- :mod:`nndl.diagnostics` — the :class:`~nndl.diagnostics.GradientMonitor`.
- :mod:`nndl.linear` — scikit-learn-compatible linear classifiers.
- :mod:`nndl.generative` — Gaussian mixtures by EM, VAE, GAN.
- :mod:`nndl.analysis` — receptive fields, sensitivity, finite differences.
- :mod:`nndl.ops` and :mod:`nndl.flow` — cost volume, warping, flow and stereo estimation.
- :mod:`nndl.experiments` — one experiment per claim of the notes; :mod:`nndl.report` renders them.
"""

from ._seed import seed_everything, torch_generator
from ._validation import DTypeError, NNDLError, ShapeError, ValidationError

__version__ = "0.1.0"

__all__ = [
    "DTypeError",
    "NNDLError",
    "ShapeError",
    "ValidationError",
    "__version__",
    "seed_everything",
    "torch_generator",
]
