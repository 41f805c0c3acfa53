"""Integrations of the :class:`~nndl.diagnostics.GradientMonitor`: TensorBoard, Lightning, 🤗.

The optional packages (``tensorboard``, ``lightning``, ``transformers``) are imported only when
asked for. Under DistributedDataParallel only rank 0 writes: the TensorBoard writer is opened
lazily, on rank 0, at the first record; the Lightning callback logs with
``rank_zero_only=True``. The gradients are read after backward, so on every rank they are the
synchronised ones.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from .._validation import DTypeError, ValidationError
from ..train import is_main_process

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from .monitor import GradientMonitor, StepRecord

__all__ = [
    "HuggingFaceHooks",
    "LightningHooks",
    "huggingface_callback",
    "lightning_callback",
    "record_scalars",
    "tensorboard_sink",
]


def record_scalars(monitor: GradientMonitor, record: StepRecord) -> dict[str, float]:
    """The finite numbers of one record as ``{tag: value}`` (TensorBoard tags / Lightning keys).

    Tags: ``learning_speed/<layer>``, ``grad_norm/<parameter>``, ``update_ratio/<parameter>``,
    ``nonfinite/total``, and ``<statistic>/<module>`` for the activation statistics.
    """
    out: dict[str, float] = {}
    for name, speed in zip(monitor.layers, monitor._speeds(record), strict=True):
        if math.isfinite(speed):
            out[f"learning_speed/{name}"] = speed
    for i, name in enumerate(monitor.parameter_names):
        norm = record.grad_norms[i]
        if norm is not None and math.isfinite(norm):
            out[f"grad_norm/{name}"] = norm
        if record.update_ratios is not None:
            ratio = record.update_ratios[i]
            if ratio is not None and math.isfinite(ratio):
                out[f"update_ratio/{name}"] = ratio
    out["nonfinite/total"] = float(sum(record.nonfinite))
    for module, stats in record.activations.items():
        for key, value in stats.items():
            if value is not None and math.isfinite(value):
                out[f"{key}/{module}"] = value
    return out


def tensorboard_sink(
    target: str | os.PathLike[str] | Any,
) -> tuple[Callable[[GradientMonitor, StepRecord], None], Callable[[], None]]:
    """A sink writing each complete record to TensorBoard, and a function that closes it.

    Args:
        target: a log folder (a ``SummaryWriter`` is opened there on rank 0 at the first
            record), or an object with ``add_scalar`` (a ``SummaryWriter``), used as is.

    Raises:
        ImportError: ``tensorboard`` is not installed (only when a folder is given).
        DTypeError: ``target`` is neither a path nor a writer.
    """
    opened: list[Any] = []  # the writer opened here, once (rank 0, first record)
    if isinstance(target, str | os.PathLike):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # pragma: no cover - tensorboard is a dev dependency
            raise ImportError(
                "TensorBoard logging needs the tensorboard package: pip install tensorboard"
            ) from exc
        log_dir = os.fspath(target)

        def writer() -> Any:
            if not opened:
                opened.append(SummaryWriter(log_dir=log_dir))
            return opened[0]

    elif hasattr(target, "add_scalar"):

        def writer() -> Any:
            return target

    else:
        raise DTypeError(
            "tensorboard target must be a log folder or a SummaryWriter, got "
            f"{type(target).__name__}"
        )

    def sink(monitor: GradientMonitor, record: StepRecord) -> None:
        if not is_main_process():
            return
        w = writer()
        for tag, value in record_scalars(monitor, record).items():
            w.add_scalar(tag, value, record.step)

    def close() -> None:
        if opened:
            opened[0].close()
        elif hasattr(target, "add_scalar") and hasattr(target, "flush"):
            target.flush()

    return sink, close


class _MonitorHooks:
    """What the framework callbacks share: the :class:`GradientMonitor` they drive, made on the
    framework's model when training starts unless one is given (with ``every``,
    ``activations`` and ``watch``), and detached when training ends if the callback made it."""

    def __init__(
        self,
        monitor: GradientMonitor | None = None,
        *,
        every: int = 1,
        activations: bool = True,
        watch: str | Sequence[str] | None = None,
    ):
        self.monitor = monitor
        self._settings = {"every": every, "activations": activations, "watch": watch}
        self._owned = False

    def _start(self, model: nn.Module | None) -> None:
        """Training starts: make the monitor on ``model`` if none was given, and attach it."""
        from .monitor import GradientMonitor

        if self.monitor is None:
            self.monitor = GradientMonitor(model, **self._settings)  # type: ignore[arg-type]
            self._owned = True
        self.monitor.attach()
        self.monitor._expects_update = True

    def _finish(self) -> None:
        """Training ends: keep the last pending record; detach a monitor the callback made."""
        if self.monitor is not None:
            self.monitor._flush_pending()
            if self._owned:
                self.monitor.detach()


class LightningHooks(_MonitorHooks):
    """What the Lightning callback does, written without Lightning (see :func:`lightning_callback`).

    - ``on_fit_start``: monitor the LightningModule (a new :class:`GradientMonitor`, or the one
      given, attached).
    - ``on_before_optimizer_step``: gradients are final (accumulated, unscaled, synchronised):
      :meth:`GradientMonitor.record`; on recorded steps copy the weights and log the numbers.
    - ``on_train_batch_end``: the optimiser has stepped: update-to-weight ratios, and the
      step's loss (from ``training_step``'s output) for the diagnosis.
    - ``on_fit_end``: detach a monitor the callback created.

    ``log``: log the numbers of each recorded step; ``settings``: ``every``, ``activations``
    and ``watch`` of a monitor the callback creates (see :func:`lightning_callback`).
    """

    def __init__(
        self, monitor: GradientMonitor | None = None, *, log: bool = True, **settings: Any
    ):
        super().__init__(monitor, **settings)
        self.log = log

    def on_fit_start(self, trainer: Any, pl_module: nn.Module) -> None:
        self._start(pl_module)

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        monitor = self.monitor
        if monitor is None or not monitor.record():
            return
        monitor._begin_update()
        if self.log:
            scalars = record_scalars(monitor, monitor.records[-1])
            pl_module.log_dict(scalars, on_step=True, on_epoch=False, rank_zero_only=True)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
        if self.monitor is not None:
            self.monitor._end_update()
            outputs = args[0] if args else kwargs.get("outputs")
            if isinstance(outputs, dict):
                outputs = outputs.get("loss")
            if isinstance(outputs, torch.Tensor) and outputs.numel() == 1:
                self.monitor.set_loss(float(outputs.detach()))

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._finish()


def _lightning_callback_base() -> type:
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback  # type: ignore[assignment]
        except ImportError:
            raise ImportError(
                "the Lightning callback needs PyTorch Lightning: pip install lightning"
            ) from None
    return Callback


@functools.cache
def _subclass(name: str, hooks: type, base: type, doc: str) -> type:
    """``class name(hooks, base)`` made once per framework base class (imported lazily)."""
    return type(name, (hooks, base), {"__doc__": doc})


def lightning_callback(
    monitor: GradientMonitor | None = None,
    *,
    every: int = 1,
    activations: bool = True,
    watch: str | Sequence[str] | None = None,
    log: bool = True,
) -> Any:
    """A ``lightning.pytorch.Callback`` that monitors the LightningModule's gradients.

    Args:
        monitor: an existing monitor to drive; None creates one on the LightningModule with
            ``every``, ``activations`` and ``watch`` at ``on_fit_start``.
        log: log the numbers of each recorded step with ``LightningModule.log_dict``
            (``rank_zero_only=True``).

    Returns:
        The callback; its ``monitor`` attribute holds the monitor (after ``fit`` starts).

    Raises:
        ImportError: neither ``lightning`` nor ``pytorch_lightning`` is installed.

    Example:
        >>> trainer = lightning.Trainer(callbacks=[lightning_callback(every=10)])  # doctest: +SKIP
    """
    cls = _subclass(
        "GradientMonitorCallback",
        LightningHooks,
        _lightning_callback_base(),
        "A PyTorch Lightning callback running a GradientMonitor; see LightningHooks.",
    )
    return cls(monitor, every=every, activations=activations, watch=watch, log=log)


class HuggingFaceHooks(_MonitorHooks):
    """What the 🤗 Transformers callback does, written without transformers.

    - ``on_train_begin``: monitor the model the Trainer trains (a new :class:`GradientMonitor`,
      or the one given, attached).
    - ``on_pre_optimizer_step``: gradients are final (accumulated, and clipped when
      ``TrainingArguments.max_grad_norm`` > 0, its default 1.0: set it to 0 to see the raw
      gradients): :meth:`GradientMonitor.record`; on recorded steps copy the weights.
    - ``on_optimizer_step``: the optimiser has stepped: update-to-weight ratios.
    - ``on_log``: the logged training loss is attached to the step just recorded.
    - ``on_train_end``: detach a monitor the callback created.
    """

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        model = kwargs.get("model")
        if self.monitor is None and model is None:
            raise ValidationError(
                "the Trainer passed no model to on_train_begin: give the callback a monitor"
            )
        self._start(model)

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.monitor is not None and self.monitor.record():
            self.monitor._begin_update()

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.monitor is not None:
            self.monitor._end_update()

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        loss = (logs or {}).get("loss")
        if self.monitor is not None and isinstance(loss, int | float):
            self.monitor.set_loss(float(loss))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._finish()


def huggingface_callback(
    monitor: GradientMonitor | None = None,
    *,
    every: int = 1,
    activations: bool = True,
    watch: str | Sequence[str] | None = None,
) -> Any:
    """A ``transformers.TrainerCallback`` that monitors the model's gradients.

    Args:
        monitor: an existing monitor to drive; None creates one on the Trainer's model with
            ``every``, ``activations`` and ``watch`` at ``on_train_begin``.

    Returns:
        The callback; its ``monitor`` attribute holds the monitor (after training starts).

    Raises:
        ImportError: ``transformers`` is not installed (``pip install nndl[huggingface]``).

    Example:
        >>> callback = huggingface_callback()
        >>> trainer = transformers.Trainer(model, args, callbacks=[callback])  # doctest: +SKIP
        >>> trainer.train()  # doctest: +SKIP
        >>> print(callback.monitor.diagnose())  # doctest: +SKIP
    """
    try:
        from transformers import TrainerCallback
    except ImportError:
        raise ImportError(
            "the Hugging Face callback needs transformers: pip install 'nndl[huggingface]'"
        ) from None
    cls = _subclass(
        "GradientMonitorTrainerCallback",
        HuggingFaceHooks,
        TrainerCallback,
        "A transformers TrainerCallback running a GradientMonitor (HuggingFaceHooks).",
    )
    return cls(monitor, every=every, activations=activations, watch=watch)
