"""Diagnostics of training: the :class:`GradientMonitor` and its findings (claims G1–G8).

- :class:`GradientMonitor` — per-layer gradient norms, Nielsen's learning speed ||dC/db_l||,
  update-to-weight ratios, non-finite counts and activation statistics of any ``nn.Module``;
  a :class:`~nndl.train.Trainer` callback, a context manager, or driven by hand with
  :meth:`~GradientMonitor.record`.
- :func:`diagnose` → :class:`Diagnosis`, a list of :class:`Finding` (``kind`` in
  :data:`FINDING_KINDS`) with the numbers and the remedies.
- :func:`lightning_callback` (PyTorch Lightning), :func:`huggingface_callback` (🤗 Transformers'
  ``Trainer``) and :meth:`GradientMonitor.log_to_tensorboard` (TensorBoard).
- :mod:`nndl.diagnostics.zoo`: labelled training runs that score the diagnosis
  (``benchmarks/gradient_zoo.py``).
"""

from .findings import FINDING_KINDS, REMEDIES, Diagnosis, Finding, diagnose
from .integrations import (
    HuggingFaceHooks,
    LightningHooks,
    huggingface_callback,
    lightning_callback,
)
from .monitor import HISTORY_FIELDS, GradientMonitor, StepRecord

__all__ = [
    "FINDING_KINDS",
    "HISTORY_FIELDS",
    "REMEDIES",
    "Diagnosis",
    "Finding",
    "GradientMonitor",
    "HuggingFaceHooks",
    "LightningHooks",
    "StepRecord",
    "diagnose",
    "huggingface_callback",
    "lightning_callback",
]
