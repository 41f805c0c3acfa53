"""One small training loop shared by the experiments and the CLI.

:class:`Trainer` runs epochs of mini-batch updates over a data set, evaluates ``metrics`` after
each epoch, calls :class:`Callback` hooks (the gradient monitor hooks in after backward and after
the optimiser step), shows a progress bar, keeps checkpoints, and runs unchanged under
``torchrun`` with DistributedDataParallel.

Reproducibility: the order of examples in epoch ``e`` is the permutation drawn by
``DistributedSampler(seed=seed).set_epoch(e)``. Each rank takes every ``world_size``-th index of
it, so the union of the ranks' shares of step ``i`` is exactly the single-process global batch
``i``; with a loss that averages over the batch, DDP's averaged gradient equals the
single-process gradient. Resuming from a checkpoint restores the model, the optimiser and the
global RNG state at the end of an epoch, so it continues to the same result as an uninterrupted
run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from .._progress import task
from .._validation import NNDLError, ValidationError, check_int
from . import distributed as dist_utils
from .checkpoint import (
    load_checkpoint,
    pack_optimizer_state,
    save_checkpoint,
    unpack_optimizer_state,
)

__all__ = [
    "Callback",
    "LossFn",
    "NonFiniteLossError",
    "Trainer",
    "accuracy",
    "supervised_loss",
]

#: ``loss_fn(model, batch) -> scalar loss``; ``batch`` is the tuple of tensors of one batch.
LossFn = Callable[[nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]
OptimizerLike = torch.optim.Optimizer | Callable[[Any], torch.optim.Optimizer]

CHECKPOINT_NAME = "checkpoint.safetensors"


class NonFiniteLossError(NNDLError, FloatingPointError):
    """The loss became NaN or infinite; training stopped before the bad update was applied."""


class Callback:
    """Hooks the trainer calls; override the ones you need. ``trainer.step`` counts updates."""

    def on_train_start(self, trainer: Trainer) -> None: ...

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None: ...

    def on_after_backward(self, trainer: Trainer) -> None:
        """Gradients are in ``param.grad`` (synchronised under DDP); the step has not run."""

    def on_step_end(self, trainer: Trainer, loss: float) -> None:
        """The optimiser step has run."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...


def supervised_loss(criterion: nn.Module | None = None) -> LossFn:
    """``criterion(model(x), y)`` for batches ``(x, y)``; cross-entropy by default."""
    crit = criterion if criterion is not None else nn.CrossEntropyLoss()

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch[0], batch[1]
        return crit(model(x), y)

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
    step: int = 0  # optimiser steps taken


class Trainer:
    """Mini-batch training with metrics, callbacks, checkpoints, progress and DDP.

    Args:
        model: the module to train (moved to ``device``; wrapped in DDP under torchrun).
        optimizer: an optimiser over ``model``'s parameters, or a factory ``params -> optimiser``.
        loss_fn: ``loss_fn(model, batch) -> scalar``; see :func:`supervised_loss`.
        epochs: number of passes over the data.
        batch_size: global batch size (split evenly across ranks under DDP).
        metrics: ``{name: fn(model) -> float}`` evaluated after each epoch (rank 0 under DDP).
        callbacks: :class:`Callback` objects, called in order.
        seed: seeds the example order of every epoch.
        device: ``"cpu"`` or ``"cuda"``.
        grad_clip: clip the global gradient norm to this value before each step.
        checkpoint_dir: where to keep ``checkpoint.safetensors`` (the last good epoch).
        checkpoint_every: save every this many epochs (and after the last).
        progress: show a bar (None: only inside a CLI progress session or on a terminal).
        description: the bar's label.
        shuffle: shuffle the examples each epoch.

    Attributes:
        history: one dict per epoch: ``epoch``, ``loss`` (mean over the epoch) and the metrics.
        step: optimiser steps taken so far.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerLike,
        loss_fn: LossFn,
        *,
        epochs: int,
        batch_size: int,
        metrics: Mapping[str, Callable[[nn.Module], float]] | None = None,
        callbacks: Sequence[Callback] = (),
        seed: int = 0,
        device: str | torch.device = "cpu",
        grad_clip: float | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 1,
        progress: bool | None = None,
        description: str = "train",
        shuffle: bool = True,
    ):
        self.epochs = check_int(epochs, name="epochs", low=1)
        self.batch_size = check_int(batch_size, name="batch_size", low=1)
        self.checkpoint_every = check_int(checkpoint_every, name="checkpoint_every", low=1)
        if grad_clip is not None and not grad_clip > 0:
            raise ValidationError(f"grad_clip must be > 0 or None, got {grad_clip}")
        self.device = torch.device(device)
        self.distributed = dist_utils.init_distributed(self.device)
        if self.distributed and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        self.world = dist_utils.world_size()
        self.rank = dist_utils.rank()
        if self.batch_size % self.world:
            raise ValidationError(
                f"batch_size must be divisible by the number of processes ({self.world}), "
                f"got {self.batch_size}"
            )
        self.module = model.to(self.device)
        self.model: nn.Module = model
        if self.distributed:
            self.model = nn.parallel.DistributedDataParallel(
                self.module, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.optimizer = (
            optimizer
            if isinstance(optimizer, torch.optim.Optimizer)
            else optimizer(self.module.parameters())
        )
        self.loss_fn = loss_fn
        self.metrics = dict(metrics or {})
        self.callbacks = list(callbacks)
        self.seed = seed
        self.grad_clip = grad_clip
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.progress = progress
        self.description = description
        self.shuffle = shuffle
        self.history: list[dict[str, float]] = []
        self._state = _State()

    # -- public ---------------------------------------------------------------------------
    @property
    def step(self) -> int:
        return self._state.step

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return self._state.epoch

    @property
    def checkpoint_path(self) -> Path | None:
        return self.checkpoint_dir / CHECKPOINT_NAME if self.checkpoint_dir else None

    def fit(
        self, data: Dataset | Sequence[torch.Tensor], *, resume: bool = False
    ) -> list[dict[str, float]]:
        """Train for the remaining epochs; return :attr:`history`.

        Args:
            data: a ``Dataset``, or a tuple of tensors with the same first dimension.
            resume: continue from ``checkpoint_dir``'s checkpoint if there is one.

        Raises:
            NonFiniteLossError: the loss became NaN/Inf (the last good checkpoint is kept).
        """
        dataset = self._as_dataset(data)
        if resume:
            self._resume()
        sampler = DistributedSampler(
            dataset, num_replicas=self.world, rank=self.rank, shuffle=self.shuffle, seed=self.seed
        )
        per_rank = self.batch_size // self.world
        steps_per_epoch = math.ceil(len(sampler) / per_rank)
        remaining = self.epochs - self._state.epoch
        show = self.progress if self.rank == 0 else False
        self._call("on_train_start")
        with task(self.description, remaining * steps_per_epoch, show=show) as bar:
            for epoch in range(self._state.epoch, self.epochs):
                sampler.set_epoch(epoch)
                self._call("on_epoch_start", epoch)
                mean_loss = self._run_epoch(dataset, sampler, per_rank, epoch, bar)
                logs = {"epoch": epoch + 1, "loss": mean_loss}
                logs.update(self._evaluate())
                self.history.append(logs)
                self._state.epoch = epoch + 1
                bar.status(f"loss {mean_loss:.4g}")
                self._call("on_epoch_end", epoch, logs)
                if self.checkpoint_dir is not None and (
                    self._state.epoch % self.checkpoint_every == 0
                    or self._state.epoch == self.epochs
                ):
                    self.save_checkpoint()
        self._call("on_train_end")
        return self.history

    def save_checkpoint(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Write the model, optimiser, RNG state and history (rank 0 only)."""
        target = Path(path) if path is not None else self.checkpoint_path
        if target is None:
            raise ValidationError("save_checkpoint needs a path or a trainer checkpoint_dir")
        if self.rank != 0:
            return None
        tensors = {f"model.{k}": v for k, v in self.module.state_dict().items()}
        optim_tensors, optim_meta = pack_optimizer_state(self.optimizer)
        tensors.update(optim_tensors)
        tensors["rng.torch"] = torch.get_rng_state()
        meta = {
            "kind": "trainer",
            "epoch": self._state.epoch,
            "step": self._state.step,
            "seed": self.seed,
            "history": self.history,
            "optimizer": optim_meta,
            "model_class": type(self.module).__name__,
        }
        return save_checkpoint(target, tensors, meta)

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore the state saved by :meth:`save_checkpoint`."""
        from .checkpoint import CheckpointError

        tensors, meta = load_checkpoint(path, device=self.device)
        model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        try:
            self.module.load_state_dict(model_state)
            self.optimizer.load_state_dict(
                unpack_optimizer_state(tensors, meta["optimizer"], prefix="optim.")
            )
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint {str(path)!r} does not fit this model: {exc}"
            ) from None
        if "rng.torch" in tensors:
            torch.set_rng_state(tensors["rng.torch"].cpu())
        self._state = _State(epoch=int(meta["epoch"]), step=int(meta["step"]))
        self.history = list(meta.get("history", []))

    # -- internals ------------------------------------------------------------------------
    def _as_dataset(self, data: Dataset | Sequence[torch.Tensor]) -> Dataset:
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

    def _batches(self, dataset: Dataset, sampler: DistributedSampler, per_rank: int):
        indices = torch.tensor(list(iter(sampler)), dtype=torch.long)
        if isinstance(dataset, TensorDataset):
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

    def _run_epoch(self, dataset, sampler, per_rank, epoch, bar) -> float:
        self.model.train()
        total, count = 0.0, 0
        for batch in self._batches(dataset, sampler, per_rank):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model, batch)
            value = float(loss.detach())
            if not math.isfinite(value):
                kept = (
                    f"the last good checkpoint is {str(self.checkpoint_path)!r} "
                    f"(epoch {self._state.epoch})"
                    if self.checkpoint_path is not None and self.checkpoint_path.exists()
                    else "no checkpoint was written (set checkpoint_dir to keep one)"
                )
                raise NonFiniteLossError(
                    f"loss became {value} at epoch {epoch + 1}, step {self._state.step + 1}; "
                    f"training stopped before the update; {kept}. Try a lower learning rate, "
                    "gradient clipping (grad_clip) or a smaller initialisation scale."
                )
            loss.backward()
            self._call("on_after_backward")
            if self.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.module.parameters(), self.grad_clip)
            self.optimizer.step()
            self._state.step += 1
            self._call("on_step_end", value)
            total += value * batch[0].shape[0]
            count += batch[0].shape[0]
            bar.advance()
        if self.distributed:
            stats = torch.tensor([total, count], dtype=torch.float64, device=self.device)
            torch.distributed.all_reduce(stats)
            total, count = float(stats[0]), int(stats[1])
        return total / max(1, count)

    def _evaluate(self) -> dict[str, float]:
        if not self.metrics:
            return {}
        was_training = self.module.training
        self.module.eval()
        with torch.no_grad():
            logs = {name: float(fn(self.module)) for name, fn in self.metrics.items()}
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
