"""One training loop shared by the library, the experiments and the CLI.

:class:`Trainer` runs epochs of updates over a data set, evaluates ``metrics`` after each epoch,
calls :class:`Callback` hooks (the gradient monitor hooks in after backward and after the
optimiser step), shows a progress bar, keeps checkpoints, stops on a non-finite loss and runs
unchanged under ``torchrun`` with DistributedDataParallel.

What one batch does is pluggable. The simple form trains one model with one optimiser on
``loss_fn(model, batch)``::

    Trainer(model, optimizer, loss_fn, epochs=10, batch_size=32).fit((x, y))

The general form takes a *step* ``step(trainer, batch) -> {name: value}`` and any number of
named optimisers; the step computes its losses and calls :meth:`Trainer.optimize` once per
update (a GAN updates its discriminator, then its generator)::

    def gan_step(trainer, batch):
        ...
        trainer.optimize(loss_d, "d")
        trainer.optimize(loss_g, "g")
        return {"loss_d": loss_d, "loss_g": loss_g}

    Trainer(gan, optimizers={"d": opt_d, "g": opt_g}, step=gan_step, epochs=5, batch_size=64)

The history holds, per epoch, the mean over the examples of every value the step returned
(a scalar, or a tensor such as one loss per model of :class:`~nndl.train.StackedModels`, kept
as a list), then the metrics.

Reproducibility: the order of examples in epoch ``e`` is the permutation drawn by
``DistributedSampler(seed=seed).set_epoch(e)``. Each rank takes every ``world_size``-th index of
it, so the union of the ranks' shares of step ``i`` is exactly the single-process global batch
``i``; with a loss that averages over the batch, DDP's averaged gradient equals the
single-process gradient. Resuming from a checkpoint restores the model, every optimiser and the
global RNG state at the end of an epoch, so it continues to the same result as an uninterrupted
run; anything that depends on time (a learning-rate schedule such as
:class:`~nndl.train.CosineSchedule`) must read :attr:`Trainer.step` / :attr:`Trainer.epoch`,
which are restored, rather than count on its own.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from .._io import to_jsonable
from .._progress import ProgressTask, task
from .._validation import DTypeError, NNDLError, ValidationError, check_int
from . import distributed as dist_utils
from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    pack_optimizer_state,
    save_checkpoint,
    unpack_optimizer_state,
)

__all__ = [
    "Callback",
    "LambdaCallback",
    "LossFn",
    "NonFiniteLossError",
    "StepFn",
    "Trainer",
    "accuracy",
    "supervised_loss",
]

#: ``loss_fn(model, batch) -> scalar loss``; ``batch`` is the tuple of tensors of one batch.
LossFn = Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]
#: ``step(trainer, batch) -> {name: value}``: one batch's update(s), made by calling
#: :meth:`Trainer.optimize`; each value is a float or a tensor (detached by the trainer), averaged
#: over the examples of the epoch into :attr:`Trainer.history`.
StepFn = Callable[["Trainer", tuple[torch.Tensor, ...]], Mapping[str, "torch.Tensor | float"]]
OptimizerLike = torch.optim.Optimizer | Callable[[Any], torch.optim.Optimizer]

CHECKPOINT_NAME = "checkpoint.safetensors"
#: The name of the only optimiser of a trainer built with ``optimizer=`` (the simple form).
MAIN = "main"


class NonFiniteLossError(NNDLError, FloatingPointError):
    """The loss became NaN or infinite; training stopped before the bad update was applied."""


class Callback:
    """Hooks the trainer calls; override the ones you need.

    ``trainer.step`` counts steps (batches) done, ``trainer.epoch`` epochs done; during
    :meth:`on_after_backward`, ``trainer.active_optimizer`` names the optimiser about to step.
    """

    def on_train_start(self, trainer: Trainer) -> None:
        """Before the first batch (after a resume has restored the state)."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Before epoch ``epoch`` (0-based)."""

    def on_step_start(self, trainer: Trainer) -> None:
        """Before the step of batch ``trainer.step`` (0-based) runs."""

    def on_after_backward(self, trainer: Trainer) -> None:
        """Gradients are in ``param.grad`` (synchronised under DDP); the step has not run."""

    def on_step_end(self, trainer: Trainer, loss: float) -> None:
        """The step has run; ``loss`` is its ``"loss"`` value (else its first), averaged."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        """Epoch ``epoch`` is done; ``logs`` is the history row (still editable here)."""

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        """Rank 0 has just written the trainer checkpoint ``path``."""

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last epoch."""


class LambdaCallback(Callback):
    """A :class:`Callback` made of functions, one per hook (same names and arguments).

    Example:
        >>> state = {"kl_weight": 1.0}
        >>> warmup = LambdaCallback(
        ...     on_epoch_start=lambda trainer, epoch: state.update(kl_weight=min(1, epoch / 5))
        ... )
    """

    _HOOKS = (
        "on_train_start",
        "on_epoch_start",
        "on_step_start",
        "on_after_backward",
        "on_step_end",
        "on_epoch_end",
        "on_checkpoint",
        "on_train_end",
    )

    def __init__(self, **hooks: Callable[..., Any]):
        unknown = sorted(set(hooks) - set(self._HOOKS))
        if unknown:
            raise ValidationError(
                f"LambdaCallback hooks must be among {', '.join(self._HOOKS)}, got {unknown}"
            )
        for name, fn in hooks.items():
            if not callable(fn):
                raise DTypeError(f"{name} must be callable, got {type(fn).__name__}")
            setattr(self, name, fn)


def supervised_loss(criterion: nn.Module | None = None) -> LossFn:
    """``criterion(model(x), y)`` for batches ``(x, y)``; cross-entropy by default."""
    crit = criterion if criterion is not None else nn.CrossEntropyLoss()

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch[0], batch[1]
        loss: torch.Tensor = crit(model(x), y)
        return loss

    return loss_fn


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> float:
    """Share of ``argmax(model(x)) == y``, in eval mode (the mode is restored afterwards)."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        logits = model(x[start : start + batch_size])
        correct += int((logits.argmax(dim=1) == y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / max(1, x.shape[0])


@dataclass
class _State:
    epoch: int = 0  # epochs completed
    step: int = 0  # steps (batches) completed


def _default_step(trainer: Trainer, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    """The simple form: ``loss = loss_fn(model, batch)``, one update of the only optimiser."""
    if trainer.loss_fn is None:  # guarded in __init__; kept for the type checker
        raise ValidationError("the default step needs a loss_fn")
    loss = trainer.loss_fn(trainer.model, batch)
    trainer.optimize(loss)
    return {"loss": loss}


def _log_value(value: torch.Tensor) -> float | list[float]:
    """A float for a one-element tensor, else a flat list of floats (JSON-able)."""
    flat = value.detach().double().cpu().reshape(-1)
    return float(flat[0]) if flat.numel() == 1 else [float(v) for v in flat]


class Trainer:
    """Training with a pluggable step, metrics, callbacks, checkpoints, progress and DDP.

    Args:
        model: the module to train (moved to ``device``; wrapped in DDP under torchrun).
        optimizer: the simple form: one optimiser over ``model``'s parameters, or a factory
            ``params -> optimiser``. Give either this or ``optimizers``.
        loss_fn: ``loss_fn(model, batch) -> scalar`` used by the default step; see
            :func:`supervised_loss`. Optional with ``step``.
        optimizers: several named optimisers (or factories of ``model.parameters()``), e.g.
            ``{"d": opt_d, "g": opt_g}``; a ``step`` then says which one each loss updates.
        step: ``step(trainer, batch) -> {name: value}`` (see :data:`StepFn`); default: backward
            ``loss_fn(model, batch)`` and step the only optimiser, returning ``{"loss": loss}``.
        epochs: number of passes over the data.
        batch_size: global batch size (split evenly across ranks under DDP); None: full batch,
            every step sees the whole data set, in its stored order (one step per epoch, so
            ``epochs`` counts gradient-descent steps).
        max_steps: stop after this many steps in all (None: ``epochs`` full epochs). The epoch
            in which it is reached ends there and is logged, evaluated and checkpointed like the
            others; resuming it with a larger budget continues from the next epoch.
        metrics: ``{name: fn(model) -> float | Tensor}`` evaluated after each epoch in eval mode
            (rank 0 under DDP); a tensor with several elements is logged as a list.
        callbacks: :class:`Callback` objects, called in order.
        seed: seeds the example order of every epoch.
        device: ``"cpu"`` or ``"cuda"``.
        grad_clip: clip the gradient norm of each optimiser's parameters to this value before
            its step.
        checkpoint_dir: where to keep ``checkpoint.safetensors`` (the last good epoch).
        checkpoint_every: save every this many epochs (and after the last).
        checkpoint_meta: a JSON-able description of what is trained (e.g. the model's config),
            written into every checkpoint; resuming from a checkpoint whose description differs
            raises :class:`~nndl.train.CheckpointError` ("belongs to another model").
        distributed_modules: under DDP, wrap these named submodules separately (e.g.
            ``("generator", "discriminator")``, for steps that call them one by one) instead of
            the whole model; :meth:`parallel` returns the wrappers.
        progress: show a bar (None: only inside a CLI progress session or on a terminal).
        description: the bar's label.
        shuffle: shuffle the examples each epoch.

    Attributes:
        history: one dict per epoch: ``epoch``, the epoch means of the step's values (``loss``
            in the simple form) and the metrics.
        optimizers: ``{name: optimiser}`` (the simple form's is named ``"main"``).
        step: steps taken so far (one per batch).
        epoch: epochs completed.

    Raises:
        ValidationError: bad settings (before any work).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerLike | None = None,
        loss_fn: LossFn | None = None,
        *,
        optimizers: Mapping[str, OptimizerLike] | None = None,
        step: StepFn | None = None,
        epochs: int,
        batch_size: int | None,
        max_steps: int | None = None,
        metrics: Mapping[str, Callable[[nn.Module], Any]] | None = None,
        callbacks: Sequence[Callback] = (),
        seed: int = 0,
        device: str | torch.device = "cpu",
        grad_clip: float | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 1,
        checkpoint_meta: Mapping[str, Any] | None = None,
        distributed_modules: Sequence[str] | None = None,
        progress: bool | None = None,
        description: str = "train",
        shuffle: bool = True,
    ):
        if not isinstance(model, nn.Module):
            raise DTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.epochs = check_int(epochs, name="epochs", low=1)
        self.max_steps = (
            None if max_steps is None else check_int(max_steps, name="max_steps", low=1)
        )
        self.batch_size = (
            None if batch_size is None else check_int(batch_size, name="batch_size", low=1)
        )
        self.checkpoint_every = check_int(checkpoint_every, name="checkpoint_every", low=1)
        if grad_clip is not None and not grad_clip > 0:
            raise ValidationError(f"grad_clip must be > 0 or None, got {grad_clip}")
        if (optimizer is None) == (optimizers is None):
            raise ValidationError("give exactly one of optimizer= and optimizers=")
        if optimizers is not None and not optimizers:
            raise ValidationError("optimizers must name at least one optimiser, got none")
        if step is None and loss_fn is None:
            raise ValidationError("give a loss_fn (simple form) or a step function")
        if step is None and optimizers is not None and len(optimizers) > 1:
            raise ValidationError(
                f"several optimizers ({', '.join(optimizers)}) need a step function that says "
                "which loss each one minimises"
            )
        for name, fn in (("loss_fn", loss_fn), ("step", step)):
            if fn is not None and not callable(fn):
                raise DTypeError(f"{name} must be callable, got {type(fn).__name__}")
        for name in distributed_modules or ():
            try:
                model.get_submodule(name)
            except AttributeError:
                raise ValidationError(
                    f"distributed_modules names {name!r}, which is not a submodule of "
                    f"{type(model).__name__}"
                ) from None
        self.checkpoint_meta = to_jsonable(dict(checkpoint_meta)) if checkpoint_meta else None
        self.device = torch.device(device)
        self.distributed = dist_utils.init_distributed(self.device)
        if self.distributed and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        self.world = dist_utils.world_size()
        self.rank = dist_utils.rank()
        if self.batch_size is not None and self.batch_size % self.world:
            raise ValidationError(
                f"batch_size must be divisible by the number of processes ({self.world}), "
                f"got {self.batch_size}"
            )
        self.module = model.to(self.device)
        self.model: nn.Module = model
        self._parallel: dict[str | None, nn.Module] = {}
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            ddp = nn.parallel.DistributedDataParallel
            if distributed_modules:
                for name in distributed_modules:
                    self._parallel[name] = ddp(model.get_submodule(name), device_ids=ids)
            else:
                self.model = ddp(self.module, device_ids=ids)
        given = optimizers if optimizers is not None else {MAIN: optimizer}
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            name: opt if isinstance(opt, torch.optim.Optimizer) else opt(self.module.parameters())
            for name, opt in given.items()
            if opt is not None
        }
        self.loss_fn = loss_fn
        self.step_fn: StepFn = step if step is not None else _default_step
        self.metrics = dict(metrics or {})
        self.callbacks = list(callbacks)
        self.seed = seed
        self.grad_clip = grad_clip
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.progress = progress
        self.description = description
        self.shuffle = shuffle
        self.history: list[dict[str, Any]] = []
        self.active_optimizer: str | None = None
        #: Steps in one epoch (set by :meth:`fit` before ``on_train_start``).
        self.steps_per_epoch = 0
        self._state = _State()
        self._epoch_for_errors = 0

    # -- public ---------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """Steps (batches) done so far, over all sessions (restored on resume)."""
        return self._state.step

    @property
    def epoch(self) -> int:
        """Epochs completed (restored on resume)."""
        return self._state.epoch

    @property
    def total_steps(self) -> int:
        """Steps of the whole run: ``epochs × steps_per_epoch``, or ``max_steps`` if smaller
        (known once :meth:`fit` runs)."""
        total = self.epochs * self.steps_per_epoch
        return total if self.max_steps is None else min(total, self.max_steps)

    def _done(self) -> bool:
        return self.max_steps is not None and self._state.step >= self.max_steps

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The only optimiser (the simple form); several: use :attr:`optimizers`."""
        if len(self.optimizers) != 1:
            raise ValidationError(
                f"this trainer has {len(self.optimizers)} optimizers "
                f"({', '.join(self.optimizers)}); use trainer.optimizers[name]"
            )
        return next(iter(self.optimizers.values()))

    @property
    def checkpoint_path(self) -> Path | None:
        return self.checkpoint_dir / CHECKPOINT_NAME if self.checkpoint_dir else None

    def parallel(self, name: str | None = None) -> nn.Module:
        """The module to call in a step: the DDP wrapper of submodule ``name`` (one of
        ``distributed_modules``) or of the whole model (None), or the plain module outside DDP.
        """
        if name is None:
            return self._parallel.get(None, self.model)
        if name in self._parallel:
            return self._parallel[name]
        return self.module.get_submodule(name)

    def optimize(self, loss: torch.Tensor, optimizer: str | None = None) -> float:
        """One update: check ``loss`` is finite, zero the optimiser's gradients, backward, call
        ``on_after_backward``, clip (``grad_clip``), step.

        Args:
            loss: a scalar tensor.
            optimizer: the optimiser's name (None: the only one).

        Returns:
            ``float(loss)``.

        Raises:
            NonFiniteLossError: ``loss`` is NaN or infinite (nothing is updated).
            ValidationError: an unknown optimiser name.
        """
        name = self._optimizer_name(optimizer)
        opt = self.optimizers[name]
        value = float(loss.detach())
        if not math.isfinite(value):
            self._raise_non_finite(value, name)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        self.active_optimizer = name
        self._call("on_after_backward")
        if self.grad_clip is not None:
            params = [p for group in opt.param_groups for p in group["params"]]
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        opt.step()
        self.active_optimizer = None
        return value

    def fit(
        self, data: Dataset | Sequence[torch.Tensor] | torch.Tensor, *, resume: bool = False
    ) -> list[dict[str, Any]]:
        """Train for the remaining epochs; return :attr:`history`.

        Args:
            data: a ``Dataset``, or a tuple of tensors with the same first dimension.
            resume: continue from ``checkpoint_dir``'s checkpoint if there is one.

        Raises:
            NonFiniteLossError: a loss became NaN/Inf (the last good checkpoint is kept).
            CheckpointError: ``resume`` with a checkpoint that is corrupt or does not fit.
        """
        dataset = self._as_dataset(data)
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise ValidationError("data holds no examples; Trainer.fit needs at least one")
        if (
            self.checkpoint_dir is not None
            and self.checkpoint_dir.exists()
            and not self.checkpoint_dir.is_dir()
        ):
            from .._io import OutputDirError

            raise OutputDirError(
                f"checkpoint_dir {str(self.checkpoint_dir)!r} is a file, not a folder"
            )
        if resume:
            self._resume()
        sampler: DistributedSampler[Any] = DistributedSampler(
            dataset, num_replicas=self.world, rank=self.rank, shuffle=self.shuffle, seed=self.seed
        )
        per_rank = len(sampler) if self.batch_size is None else self.batch_size // self.world
        per_rank = max(1, per_rank)
        self.steps_per_epoch = math.ceil(len(sampler) / per_rank)
        remaining = max(0, self.total_steps - self._state.step)
        show = self.progress if self.rank == 0 else False
        self._call("on_train_start")
        with task(self.description, remaining, show=show) as bar:
            for epoch in range(self._state.epoch, self.epochs):
                if self._done():
                    break
                sampler.set_epoch(epoch)
                self._call("on_epoch_start", epoch)
                logs: dict[str, Any] = {"epoch": epoch + 1}
                logs.update(self._run_epoch(dataset, sampler, per_rank, epoch, bar))
                logs.update(self._evaluate())
                self.history.append(logs)
                self._state.epoch = epoch + 1
                bar.status(_status(logs))
                self._call("on_epoch_end", epoch, logs)
                if self.checkpoint_dir is not None and (
                    self._state.epoch % self.checkpoint_every == 0
                    or self._state.epoch == self.epochs
                    or self._done()
                ):
                    self.save_checkpoint()
        self._call("on_train_end")
        return self.history

    def save_checkpoint(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Write the model, every optimiser, the RNG state and the history (rank 0 only), then
        call the callbacks' ``on_checkpoint``."""
        target = Path(path) if path is not None else self.checkpoint_path
        if target is None:
            raise ValidationError("save_checkpoint needs a path or a trainer checkpoint_dir")
        if self.rank != 0:
            return None
        tensors = {f"model.{k}": v for k, v in self.module.state_dict().items()}
        meta: dict[str, Any] = {
            "kind": "trainer",
            "epoch": self._state.epoch,
            "step": self._state.step,
            "seed": self.seed,
            "history": self.history,
            "model_class": type(self.module).__name__,
        }
        if list(self.optimizers) == [MAIN]:  # the simple form keeps its original layout
            optim_tensors, meta["optimizer"] = pack_optimizer_state(self.optimizer)
            tensors.update(optim_tensors)
        else:
            meta["optimizers"] = {}
            for name, opt in self.optimizers.items():
                optim_tensors, meta["optimizers"][name] = pack_optimizer_state(
                    opt, prefix=f"optim.{name}."
                )
                tensors.update(optim_tensors)
        if self.checkpoint_meta is not None:
            meta["model_meta"] = self.checkpoint_meta
        tensors["rng.torch"] = torch.get_rng_state()
        written = save_checkpoint(target, tensors, meta)
        self._call("on_checkpoint", written)
        return written

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore the state saved by :meth:`save_checkpoint`.

        Raises:
            CheckpointError: missing, corrupt, of another model (``checkpoint_meta`` differs) or
                with weights / optimisers that do not fit.
        """
        tensors, meta = load_checkpoint(path, device=self.device)
        stored = meta.get("model_meta")
        if self.checkpoint_meta is not None and stored != self.checkpoint_meta:
            raise CheckpointError(
                f"checkpoint {str(path)!r} belongs to another model ({stored}); expected "
                f"{self.checkpoint_meta}"
            )
        model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        try:
            self.module.load_state_dict(model_state)
            if list(self.optimizers) == [MAIN]:
                self.optimizer.load_state_dict(
                    unpack_optimizer_state(tensors, meta["optimizer"], prefix="optim.")
                )
            else:
                if set(meta["optimizers"]) != set(self.optimizers):
                    stored = sorted(meta["optimizers"])
                    raise KeyError(f"optimizers {stored}, expected {sorted(self.optimizers)}")
                for name, opt in self.optimizers.items():
                    opt.load_state_dict(
                        unpack_optimizer_state(
                            tensors, meta["optimizers"][name], prefix=f"optim.{name}."
                        )
                    )
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"checkpoint {str(path)!r} does not fit this model: {exc}"
            ) from None
        if "rng.torch" in tensors:
            torch.set_rng_state(tensors["rng.torch"].cpu())
        self._state = _State(epoch=int(meta["epoch"]), step=int(meta["step"]))
        self.history = list(meta.get("history", []))

    # -- internals ------------------------------------------------------------------------
    def _optimizer_name(self, name: str | None) -> str:
        if name is None:
            if len(self.optimizers) != 1:
                raise ValidationError(
                    f"optimize needs an optimizer name among {', '.join(self.optimizers)}"
                )
            return next(iter(self.optimizers))
        if name not in self.optimizers:
            raise ValidationError(
                f"optimizer must be one of {', '.join(self.optimizers)}, got {name!r}"
            )
        return name

    def _raise_non_finite(self, value: float, name: str) -> None:
        kept = (
            f"the last good checkpoint is {str(self.checkpoint_path)!r} (epoch {self._state.epoch})"
            if self.checkpoint_path is not None and self.checkpoint_path.exists()
            else "no checkpoint was written (set checkpoint_dir to keep one)"
        )
        what = "loss" if name == MAIN else f"{name} loss"
        raise NonFiniteLossError(
            f"{what} became {value} at epoch {self._epoch_for_errors + 1}, step "
            f"{self._state.step + 1}; training stopped before the update; {kept}. Try a lower "
            "learning rate, gradient clipping (grad_clip) or a smaller initialisation scale."
        )

    def _as_dataset(self, data: Dataset | Sequence[torch.Tensor] | torch.Tensor) -> Dataset:
        if isinstance(data, Dataset):
            return data
        if isinstance(data, torch.Tensor):
            data = (data,)
        tensors = tuple(data)
        if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
            raise ValidationError("data must be a Dataset or a tuple of tensors")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValidationError(
                "data tensors must share their first dimension, got "
                f"{[t.shape[0] for t in tensors]}"
            )
        return TensorDataset(*tensors)

    def _batches(
        self, dataset: Dataset, sampler: DistributedSampler, per_rank: int
    ) -> Iterator[tuple[torch.Tensor, ...]]:
        indices = torch.tensor(list(iter(sampler)), dtype=torch.long)
        if isinstance(dataset, TensorDataset):
            if self.world == 1 and per_rank >= len(indices):
                # full batch: the stored order (the mean gradient does not depend on it)
                yield tuple(t.to(self.device, non_blocking=True) for t in dataset.tensors)
                return
            for start in range(0, len(indices), per_rank):
                idx = indices[start : start + per_rank]
                yield tuple(t[idx].to(self.device, non_blocking=True) for t in dataset.tensors)
        else:
            loader = DataLoader(
                torch.utils.data.Subset(dataset, indices.tolist()), batch_size=per_rank
            )
            for batch in loader:
                items = batch if isinstance(batch, list | tuple) else (batch,)
                yield tuple(t.to(self.device, non_blocking=True) for t in items)

    def _run_epoch(
        self,
        dataset: Dataset,
        sampler: DistributedSampler,
        per_rank: int,
        epoch: int,
        bar: ProgressTask,
    ) -> dict[str, float | list[float]]:
        """One pass; returns the example-weighted means of the step's values."""
        self.model.train()
        self._epoch_for_errors = epoch
        sums: dict[str, torch.Tensor] = {}
        count = 0
        for batch in self._batches(dataset, sampler, per_rank):
            if self._done():
                break
            self._call("on_step_start")
            out = self.step_fn(self, batch)
            self._state.step += 1
            size = int(batch[0].shape[0]) if batch and batch[0].dim() else 1
            first: float | None = None
            for key, value in out.items():
                v = torch.as_tensor(
                    value.detach() if isinstance(value, torch.Tensor) else value
                ).to("cpu", torch.float64)
                sums[key] = sums[key] + v * size if key in sums else v * size
                if first is None or key == "loss":
                    first = float(v) if v.numel() == 1 else float(v.mean())
            count += size
            self._call("on_step_end", math.nan if first is None else first)
            bar.advance()
        keys = list(sums)
        if self.distributed and keys:
            flat = torch.cat([sums[k].reshape(-1) for k in keys] + [torch.tensor([count * 1.0])])
            flat = flat.to(self.device)
            torch.distributed.all_reduce(flat)
            flat = flat.cpu()
            count = int(flat[-1])
            offset = 0
            for k in keys:
                n = sums[k].numel()
                sums[k] = flat[offset : offset + n].reshape(sums[k].shape)
                offset += n
        return {k: _log_value(v / max(1, count)) for k, v in sums.items()}

    def _evaluate(self) -> dict[str, float | list[float]]:
        if not self.metrics:
            return {}
        was_training = self.module.training
        self.module.eval()
        logs: dict[str, float | list[float]] = {}
        with torch.no_grad():
            for name, fn in self.metrics.items():
                value = fn(self.module)
                logs[name] = _log_value(value) if isinstance(value, torch.Tensor) else float(value)
        self.module.train(was_training)
        return logs

    def _resume(self) -> None:
        path = self.checkpoint_path
        if path is None:
            raise ValidationError("resume=True needs a checkpoint_dir")
        if path.exists():
            self.load_checkpoint(path)

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)


def _status(logs: Mapping[str, Any]) -> str:
    """``"loss 0.123 acc 0.9"``: the row's numbers for the progress bar (lists as means)."""
    parts = []
    for key, value in logs.items():
        if key == "epoch":
            continue
        if isinstance(value, list):
            value = sum(value) / max(1, len(value))
        if isinstance(value, int | float):
            parts.append(f"{key} {value:.4g}")
    return " ".join(parts[:4])
