r"""The :class:`GradientMonitor`: per-layer gradient statistics of any model, cheaply.

What it records after each recorded backward pass (every ``every``-th call of
:meth:`GradientMonitor.record`), for every monitored parameter tensor :math:`\theta`:

- ``grad_norm`` :math:`\lVert \partial C / \partial \theta \rVert_2` and ``nonfinite``, the
  number of NaN/Inf entries of the gradient;
- per layer (a module that directly owns parameters, named by its qualified name: ``fc1``,
  ``bn2``, ``out``) the **learning speed** of Nielsen's chapter 5,
  :math:`\lVert \partial C / \partial b_l \rVert_2`, the norm of the gradient with respect to the
  layer's bias. A layer without a bias uses its weight instead:
  :math:`\lVert \partial C / \partial W_l \rVert_F / \sqrt{\text{fan\_in}}`, which equals
  :math:`\lVert \partial C / \partial b_l \rVert` for one example whose layer input has unit
  root-mean-square (for :math:`\partial C/\partial W = \delta a^\top`,
  :math:`\lVert \delta a^\top \rVert_F = \lVert \delta \rVert \lVert a \rVert`). The measure
  used is named in each record (``speed_measure``);
- with an optimiser watched, the **update-to-weight ratio**
  :math:`\lVert \theta_{t+1} - \theta_t \rVert / \lVert \theta_t \rVert` across the step;
- ``weight_norm`` :math:`\lVert \theta \rVert_2` (before the optimiser step), the scale the
  diagnosis compares the gradient with, and the ``loss`` when it is passed to ``record``;
- with ``activations=True``, forward-hook statistics of the activation modules and layers (see
  :mod:`nndl.diagnostics._activations`): saturated fraction, dead fraction, mean and std, on a
  sparser schedule of their own: the recorded steps numbered :math:`k = 0, 1, 2, 4, 8, \ldots`
  (powers of two below ``activation_every``), then every ``activation_every``-th (default 64):
  dense at the start, where problems first show, and cheap afterwards. The weight norms are
  read on the same records (and on every recorded step when an optimiser is watched).

Cost: gradients are read from ``param.grad`` after backward (no gradient hooks), with one
batched ``torch._foreach_norm`` over the gradients and the weights and a single device-to-host
transfer per recorded step. On the steps that are not recorded, :meth:`~GradientMonitor.record`
only counts, and the forward hooks are not even installed: they are added just before the
forward pass of a step whose activations are sampled and removed after it; each hook costs two
or three fused reductions of the module's output.

Because gradients are read after backward, the numbers are those of the gradients the optimiser
sees: synchronised (averaged) across processes under DistributedDataParallel, and unaffected by
``torch.compile`` (whose compiled internals are never hooked: activation statistics are switched
off for a compiled model). Under DDP only rank 0 writes files or TensorBoard events.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from .._io import atomic_write_json, atomic_write_text, to_jsonable
from .._validation import DTypeError, ValidationError, check_int, closest_first
from ..train import Callback, is_main_process
from ._activations import ActivationStats, make_hook, module_kind, read_scalars

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from rich.table import Table

    from ..train import Trainer
    from .findings import Diagnosis

__all__ = ["HISTORY_FIELDS", "GradientMonitor"]

#: The keys of every record in :attr:`GradientMonitor.history` (also the CSV columns).
HISTORY_FIELDS: tuple[str, ...] = (
    "step",
    "kind",
    "layer",
    "parameter",
    "numel",
    "grad_norm",
    "learning_speed",
    "speed_measure",
    "weight_norm",
    "update_ratio",
    "loss",
    "nonfinite",
    "module_type",
    "saturated_fraction",
    "dead_fraction",
    "act_mean",
    "act_std",
)

BIAS_MEASURE = "||dC/db||"
WEIGHT_MEASURE = "||dC/dW||/sqrt(fan_in)"
ROOT_NAME = "(model)"


@dataclass
class StepRecord:
    """What one recorded step measured (internal, columnar; see ``history`` for rows)."""

    step: int
    grad_norms: list[float | None]
    nonfinite: list[int]
    activations: dict[str, dict[str, float | None]] = field(default_factory=dict)
    weight_norms: list[float | None] | None = None
    update_ratios: list[float | None] | None = None
    loss: float | None = None


@dataclass(frozen=True)
class _SpeedSource:
    param: int  # index into the monitored parameters
    divisor: float
    measure: str


def _unwrap(model: nn.Module) -> tuple[nn.Module, bool]:
    """The module that owns the parameters, and whether the model was ``torch.compile``-d."""
    compiled = False
    for _ in range(8):  # DDP(compile(model)), compile(DDP(model)), …
        if hasattr(model, "_orig_mod") and type(model).__name__ == "OptimizedModule":
            model, compiled = cast(nn.Module, model._orig_mod), True
        elif isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
            model = model.module
        else:
            break
    return model, compiled


#: Modules after which a layer's bias is absorbed (its gradient is zero by construction).
_NORMS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
)


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _norms(tensors: list[torch.Tensor], uniform: bool) -> list[float]:
    """L2 norms of ``tensors`` as Python floats, with one host transfer when possible."""
    if not tensors:
        return []
    dense = [t.coalesce().values() if t.is_sparse else t for t in tensors]
    if uniform:
        return torch.stack(torch._foreach_norm(dense)).tolist()
    return [float(torch.linalg.vector_norm(t)) for t in dense]


class GradientMonitor(Callback):
    """Per-layer gradient norms, learning speeds, update ratios and activation statistics.

    Args:
        model: any ``nn.Module`` (also wrapped in DDP or ``torch.compile``: the parameters of the
            underlying module are monitored).
        every: record one backward pass out of ``every`` (steps 0, every, 2·every, …).
        activations: record activation statistics with forward hooks on the activation modules
            (sigmoid, tanh, ReLU family) and the monitored layers. Off for compiled models.
        activation_every: the activation statistics' (and weight norms') own schedule, in
            recorded steps: records 0, 1, 2, 4, … (powers of two below it), then every
            ``activation_every``-th record. 1 samples every recorded step.
        watch: fnmatch patterns for the parameter names to monitor (``"fc*"``,
            ``"encoder.layers.0.*"``); activation modules are matched by their module name.
            None monitors everything. Watching a few layers keeps large models cheap.
        attach: attach now (the default); otherwise call :meth:`attach` or use ``with``.

    Use it as a context manager, with :meth:`attach`/:meth:`detach`, as a
    :class:`~nndl.train.Trainer` callback (``Trainer(..., callbacks=[monitor])``), or in a
    hand-written loop::

        monitor = GradientMonitor(model, every=10)
        monitor.watch_optimizer(optimizer)      # optional: update-to-weight ratios
        for x, y in batches:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            monitor.record()                    # after backward, before the step
            optimizer.step()
        print(monitor.diagnose())

    With the Trainer, gradients are read before gradient clipping (what the network produced).

    Attributes:
        module: the monitored (unwrapped) module.
        layers: names of the monitored layers, in module order (input side first for
            ``nn.Sequential`` and most models).
        parameter_names: qualified names of the monitored parameters.
        compiled: the model was compiled with ``torch.compile`` (activation hooks are off).

    Raises:
        ValidationError: ``every`` or ``activation_every`` < 1, or ``watch`` patterns that match
            no parameter.
    """

    def __init__(
        self,
        model: nn.Module,
        every: int = 1,
        activations: bool = True,
        watch: str | Sequence[str] | None = None,
        *,
        activation_every: int = 64,
        attach: bool = True,
    ):
        if not isinstance(model, nn.Module):
            raise DTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.every = check_int(every, name="every", low=1)
        self.activation_every = check_int(activation_every, name="activation_every", low=1)
        if isinstance(watch, str):
            watch = (watch,)
        if watch is not None:
            watch = tuple(watch)
            if not watch or not all(isinstance(p, str) for p in watch):
                raise ValidationError(
                    f"watch must be None or a list of name patterns, got {watch!r}"
                )
        self.watch: tuple[str, ...] | None = watch
        self.model = model
        self.module, self.compiled = _unwrap(model)
        self.activations = bool(activations) and not self.compiled
        self._discover()
        self._counter = 0
        self._records: list[StepRecord] = []
        self._history: list[dict[str, Any]] | None = None
        self._buffer: dict[str, ActivationStats] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._optimizer_handles: list[torch.utils.hooks.RemovableHandle] = []
        self._snapshot: list[torch.Tensor] | None = None
        self._snapshot_record: StepRecord | None = None
        self._expects_update = False
        self._sinks: list[Callable[[GradientMonitor, StepRecord], None]] = []
        self._closers: list[Callable[[], None]] = []
        self.attached = False
        if attach:
            self.attach()

    # -- discovery --------------------------------------------------------------------------
    def _matches(self, name: str) -> bool:
        return self.watch is None or any(fnmatchcase(name, p) for p in self.watch)

    def _discover(self) -> None:
        params: list[nn.Parameter] = []
        names: list[str] = []
        layer_of: list[int] = []
        layers: list[str] = []
        layer_params: list[list[int]] = []
        seen: set[int] = set()
        all_names: list[str] = []
        self._recurrent = False
        self._hook_targets: list[tuple[str, nn.Module, str | None]] = []
        compiled_prefixes: list[str] = []
        normalised: set[int] = set()
        pending: int | None = None  # the last layer seen, until the next leaf module
        for mod_name, mod in self.module.named_modules():
            if pending is not None and not list(mod.children()):
                if isinstance(mod, _NORMS):
                    normalised.add(pending)
                pending = None
            if isinstance(mod, nn.RNNBase | nn.RNNCellBase):
                self._recurrent = True
            if getattr(mod, "_compiled_call_impl", None) is not None:
                compiled_prefixes.append(mod_name)
            owned = []
            for p_name, p in mod.named_parameters(recurse=False):
                full = f"{mod_name}.{p_name}" if mod_name else p_name
                all_names.append(full)
                if not p.requires_grad or id(p) in seen or not self._matches(full):
                    continue
                seen.add(id(p))
                owned.append((full, p))
            layer_name = mod_name or ROOT_NAME
            if owned:
                pending = len(layers) if not isinstance(mod, _NORMS) else None
                layers.append(layer_name)
                layer_params.append([])
                for full, p in owned:
                    layer_params[-1].append(len(params))
                    layer_of.append(len(layers) - 1)
                    params.append(p)
                    names.append(full)
            kind = module_kind(mod)
            hooked_layer = bool(owned)
            if (kind is not None and self._matches(layer_name)) or hooked_layer:
                under_compiled = any(
                    mod_name == c or mod_name.startswith(c + ".") if c else True
                    for c in compiled_prefixes
                )
                if not under_compiled:
                    self._hook_targets.append((layer_name, mod, kind))
        if self.watch is not None and all_names and not params:
            raise ValidationError(
                f"watch patterns {list(self.watch)} match no trainable parameter; parameters: "
                + ", ".join(closest_first(self.watch[0], all_names)[:12])
            )
        self._params = params
        self.parameter_names = names
        self._param_layer = layer_of
        self.layers = layers
        self._layer_params = layer_params
        self._normalised = normalised
        self._speed_sources = [self._speed_source(idx) for idx in layer_params]
        self._weight_sources = [self._weight_source(idx) for idx in layer_params]
        devices = {(p.device, p.dtype) for p in params}
        self._uniform = len(devices) <= 1

    def _weight_source(self, indices: list[int]) -> _SpeedSource:
        weights = [i for i in indices if self._params[i].dim() >= 2]
        i = weights[0] if weights else indices[0]
        p = self._params[i]
        fan_in = p.numel() // p.shape[0] if p.dim() >= 1 and p.shape[0] else 1
        return _SpeedSource(i, math.sqrt(max(1, fan_in)), WEIGHT_MEASURE)

    def _speed_source(self, indices: list[int]) -> _SpeedSource:
        shorts = [(i, _short(self.parameter_names[i])) for i in indices]
        exact = [i for i, s in shorts if s == "bias"]
        biasish = [i for i, s in shorts if s.startswith("bias") or s.endswith("bias")]
        for candidates in (exact, biasish):
            if candidates:
                return _SpeedSource(candidates[0], 1.0, BIAS_MEASURE)
        return self._weight_source(indices)

    # -- attach / detach --------------------------------------------------------------------
    def attach(self) -> GradientMonitor:
        """Install what the monitor needs (the activation hooks, armed for the next record)."""
        if not self.attached:
            self.attached = True
            self._sync_hooks()
        return self

    def detach(self) -> GradientMonitor:
        """Remove every hook the monitor added (forward and optimiser hooks); keep the data."""
        self._disarm()
        for handle in self._optimizer_handles:
            handle.remove()
        self._optimizer_handles = []
        self._buffer.clear()
        self._flush_pending()
        self._expects_update = False
        self.attached = False
        return self

    def close(self) -> None:
        """Detach and close the writers the monitor opened (TensorBoard)."""
        self.detach()
        for closer in self._closers:
            closer()
        self._closers = []
        self._sinks = []

    def __enter__(self) -> GradientMonitor:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_is_recorded(self) -> bool:
        return self._counter % self.every == 0

    def samples_activations(self, record_index: int) -> bool:
        """Whether the ``record_index``-th recorded step (from 0) samples activation statistics.

        True for 0, the powers of two below ``activation_every``, and the multiples of
        ``activation_every`` (with the defaults: records 0, 1, 2, 4, 8, 16, 32, 64, 128, …).
        """
        k, every = record_index, self.activation_every
        return k % every == 0 or (k < every and k & (k - 1) == 0)

    def _sync_hooks(self) -> None:
        """Arm the forward hooks exactly when the next step's activations are sampled."""
        if self._next_is_recorded() and self.samples_activations(len(self._records)):
            self._arm()
        else:
            self._disarm()

    def _arm(self) -> None:
        if self._handles or not self.activations or not self.attached:
            return
        self._handles = [
            module.register_forward_hook(make_hook(name, kind, self._buffer))
            for name, module, kind in self._hook_targets
        ]

    def _disarm(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def watch_optimizer(self, optimizer: torch.optim.Optimizer) -> GradientMonitor:
        """Measure update-to-weight ratios across ``optimizer.step()`` on recorded steps.

        Registers step pre/post hooks on the optimiser (removed by :meth:`detach`). On a recorded
        step the monitored parameters are copied before the step and compared after it.
        """
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise DTypeError(
                f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        self._expects_update = True
        self._optimizer_handles.append(
            optimizer.register_step_pre_hook(lambda *_: self._begin_update())
        )
        self._optimizer_handles.append(
            optimizer.register_step_post_hook(lambda *_: self._end_update())
        )
        return self

    # -- recording --------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """How many times :meth:`record` has been called (the next step's number)."""
        return self._counter

    def record(self, loss: float | torch.Tensor | None = None) -> bool:
        """Call after ``loss.backward()``: records this step if it is one of every ``every``.

        Args:
            loss: the step's loss (a number or a 0-d tensor), kept on recorded steps: the
                diagnosis reads its growth and non-finite values. A tensor costs one
                device-to-host transfer, on recorded steps only.

        Returns:
            True if the step was recorded.

        Raises:
            DTypeError: ``loss`` is neither a number nor a one-element tensor.
        """
        if loss is not None and not (
            (isinstance(loss, torch.Tensor) and loss.numel() == 1)
            or (isinstance(loss, int | float) and not isinstance(loss, bool))
        ):
            raise DTypeError(
                f"loss must be a number or a one-element tensor, got {type(loss).__name__}"
                + (f" of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else "")
            )
        step = self._counter
        self._counter = step + 1
        if step % self.every:
            if self.activations:
                self._sync_hooks()
            return False
        self._store(step)
        if loss is not None:
            value = loss.detach() if isinstance(loss, torch.Tensor) else loss
            self._records[-1].loss = float(value)
        if self.activations:
            self._sync_hooks()
        return True

    def _store(self, step: int) -> None:
        params = self._params
        grads = [p.grad for p in params]
        present = [i for i, g in enumerate(grads) if g is not None]
        norms: list[float | None] = [None] * len(params)
        nonfinite = [0] * len(params)
        # weight norms change slowly: read them on the sampled records only (and, with an
        # optimiser watched, from the copy taken for the update ratios)
        sampled = self.samples_activations(len(self._records))
        tensors = [grads[i] for i in present] + ([p.detach() for p in params] if sampled else [])
        values = _norms(tensors, self._uniform)  # type: ignore[arg-type]
        values, weights = values[: len(present)], values[len(present) :]
        weight_norms: list[float | None] | None = list(weights) if sampled else None
        for i, value in zip(present, values, strict=True):
            if not math.isfinite(value):
                grad = grads[i]
                assert grad is not None  # i is in present
                grad = grad.coalesce().values() if grad.is_sparse else grad
                nonfinite[i] = int((~torch.isfinite(grad)).sum())
                if nonfinite[i] == 0:  # the norm overflowed its dtype: recompute in float64
                    value = float(torch.linalg.vector_norm(grad.double()))
            norms[i] = value
        activations = {}
        if self._buffer:
            # every module's numbers in one stack and host transfer (per dtype)
            pending = [(name, stats, stats.scalars()) for name, stats in self._buffer.items()]
            values = read_scalars([t for _, _, ts in pending for t in ts])
            offset = 0
            for name, stats, ts in pending:
                activations[name] = stats.summarise(values[offset : offset + len(ts)])
                offset += len(ts)
            self._buffer.clear()
        record = StepRecord(step, norms, nonfinite, activations, weight_norms)
        self._records.append(record)
        self._history = None
        if not self._expects_update:
            self._emit(record)

    def _begin_update(self) -> None:
        """Copy the parameters before an optimiser step that follows a recorded backward."""
        if self._snapshot is not None or not self._records:
            return
        record = self._records[-1]
        if record.step != self._counter - 1 or record.update_ratios is not None:
            return
        self._snapshot = [p.detach().clone() for p in self._params]
        self._snapshot_record = record

    def _end_update(self) -> None:
        """Compare the parameters with the copy taken by :meth:`_begin_update`."""
        if self._snapshot is None or self._snapshot_record is None:
            return
        record, before = self._snapshot_record, self._snapshot
        self._snapshot, self._snapshot_record = None, None
        after = [p.detach() for p in self._params]
        deltas = list(torch._foreach_sub(after, before))
        delta_norms = _norms(deltas, self._uniform)
        weight_norms: list[float | None] = list(
            record.weight_norms
            if record.weight_norms is not None
            else _norms(before, self._uniform)
        )
        record.weight_norms = weight_norms
        record.update_ratios = [
            d / w if w is not None and w > 0 and math.isfinite(w) else None
            for d, w in zip(delta_norms, weight_norms, strict=True)
        ]
        self._history = None
        self._emit(record)

    def _emit(self, record: StepRecord) -> None:
        for sink in self._sinks:
            sink(self, record)

    def _flush_pending(self) -> None:
        if self._snapshot_record is not None:
            record = self._snapshot_record
            self._snapshot, self._snapshot_record = None, None
            self._emit(record)

    # -- Trainer callback -------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer) -> None:
        own = {id(p) for p in self.module.parameters()}
        theirs = {id(p) for p in trainer.module.parameters()}
        if own and not own & theirs:
            raise ValidationError(
                "the GradientMonitor watches a different model than the Trainer trains: "
                f"monitor on {type(self.module).__name__}, trainer on "
                f"{type(trainer.module).__name__}"
            )
        self._expects_update = True
        self.attach()

    def on_after_backward(self, trainer: Trainer) -> None:
        if self.record():
            self._begin_update()

    def on_step_end(self, trainer: Trainer, loss: float) -> None:
        self._end_update()
        self.set_loss(loss)

    def set_loss(self, loss: float) -> None:
        """Attach the loss of the step just recorded (for callers that know it after ``record``)."""
        last = self._records[-1] if self._records else None
        if (
            last is not None
            and last.step == self._counter - 1
            and last.loss is None
            and isinstance(loss, int | float)
        ):
            last.loss = float(loss)

    def on_train_end(self, trainer: Trainer) -> None:
        self._flush_pending()

    # -- results ----------------------------------------------------------------------------
    @property
    def records(self) -> list[StepRecord]:
        """The recorded steps, oldest first (columnar; :attr:`history` has plain rows)."""
        return self._records

    @property
    def steps(self) -> list[int]:
        """Step numbers of the recorded steps."""
        return [r.step for r in self._records]

    def speed_measures(self) -> dict[str, str]:
        """Per layer, which measure its learning speed uses (bias or weight substitute)."""
        return {
            name: src.measure for name, src in zip(self.layers, self._speed_sources, strict=True)
        }

    def _speeds(self, record: StepRecord, diagnostic: bool = False) -> list[float]:
        out = []
        for k, (src, wsrc) in enumerate(
            zip(self._speed_sources, self._weight_sources, strict=True)
        ):
            norm = record.grad_norms[src.param]
            speed = math.nan if norm is None else norm / src.divisor
            if (
                diagnostic
                and src.measure == BIAS_MEASURE
                and src.param != wsrc.param
                and k in self._normalised
            ):
                # A bias followed by a normalisation (BatchNorm subtracts the batch mean) gets
                # an exactly zero gradient by construction; judge such a layer by its weight.
                wnorm = record.grad_norms[wsrc.param]
                if wnorm is not None and math.isfinite(speed):
                    wspeed = wnorm / wsrc.divisor
                    if speed < 1e-4 * wspeed:
                        speed = wspeed
            out.append(speed)
        return out

    def _record_at(self, step: int) -> StepRecord:
        if not self._records:
            raise ValidationError(
                "nothing recorded yet: call monitor.record() after loss.backward(), or train "
                "with Trainer(..., callbacks=[monitor])"
            )
        check_int(step, name="step")
        if step < 0:
            if -step > len(self._records):
                raise ValidationError(
                    f"step must be a recorded step or an index in [-{len(self._records)}, -1], "
                    f"got {step}"
                )
            return self._records[step]
        for record in self._records:
            if record.step == step:
                return record
        near = sorted(self.steps, key=lambda s: abs(s - step))[:5]
        raise ValidationError(
            f"step {step} was not recorded (every={self.every}); nearest recorded steps: {near}"
        )

    def learning_speed(self, step: int = -1) -> dict[str, float]:
        """Per layer, the learning speed ||dC/db_l|| at one recorded step.

        Args:
            step: a recorded step number (as in ``history``), or a negative index counting back
                from the latest record (-1, the default, is the latest).

        Returns:
            ``{layer: speed}`` in layer order; NaN for a layer without a gradient. Layers without
            a bias use ||dC/dW||_F / √fan_in (see :meth:`speed_measures`).

        Raises:
            ValidationError: nothing recorded yet, or a step that was not recorded.
        """
        record = self._record_at(step)
        return dict(zip(self.layers, self._speeds(record), strict=True))

    def learning_speeds(self) -> dict[str, list[float]]:
        """Per layer, its learning speed at every recorded step (aligned with :attr:`steps`)."""
        columns: dict[str, list[float]] = {name: [] for name in self.layers}
        for record in self._records:
            for name, speed in zip(self.layers, self._speeds(record), strict=True):
                columns[name].append(speed)
        return columns

    @property
    def history(self) -> list[dict[str, Any]]:
        """Plain records, one per (recorded step, parameter) and per (step, activation module).

        Every record has the keys of :data:`HISTORY_FIELDS` (None where not applicable):
        ``kind`` is ``"parameter"`` or ``"activation"``; ``learning_speed`` is set on the row of
        the parameter that defines the layer's speed (its bias, or its weight for a layer
        without a bias, named by ``speed_measure``).
        """
        if self._history is None:
            self._history = [row for record in self._records for row in self._rows(record)]
        return self._history

    def _rows(self, record: StepRecord) -> Iterable[dict[str, Any]]:
        blank = dict.fromkeys(HISTORY_FIELDS)
        speeds = self._speeds(record)
        sources = {src.param: (k, src) for k, src in enumerate(self._speed_sources)}
        for i, name in enumerate(self.parameter_names):
            row = dict(blank)
            layer = self._param_layer[i]
            row.update(
                step=record.step,
                kind="parameter",
                loss=record.loss,
                layer=self.layers[layer],
                parameter=name,
                numel=self._params[i].numel(),
                grad_norm=record.grad_norms[i],
                nonfinite=record.nonfinite[i],
            )
            if i in sources:
                row["learning_speed"] = speeds[sources[i][0]]
                row["speed_measure"] = sources[i][1].measure
            if record.weight_norms is not None:
                row["weight_norm"] = record.weight_norms[i]
            if record.update_ratios is not None:
                row["update_ratio"] = record.update_ratios[i]
            yield row
        types = {name: type(module).__name__ for name, module, _ in self._hook_targets}
        for module_name, stats in record.activations.items():
            row = dict(blank)
            row.update(step=record.step, kind="activation", layer=module_name, loss=record.loss)
            row["module_type"] = types.get(module_name)
            row.update(stats)
            yield row

    def to_csv(self, path: str | os.PathLike[str]) -> os.PathLike[str] | None:
        """Write :attr:`history` as CSV (atomically; rank 0 only under DDP; None elsewhere)."""
        if not is_main_process():
            return None
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(HISTORY_FIELDS), lineterminator="\n")
        writer.writeheader()
        for row in self.history:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return atomic_write_text(path, buffer.getvalue())

    def to_dict(self) -> dict[str, Any]:
        """Settings, layers and :attr:`history` as JSON-ready data (NaN/Inf become strings)."""
        return to_jsonable(
            {
                "every": self.every,
                "activation_every": self.activation_every,
                "watch": list(self.watch) if self.watch is not None else None,
                "layers": [
                    {
                        "name": name,
                        "parameters": [self.parameter_names[i] for i in idx],
                        "speed_measure": src.measure,
                    }
                    for name, idx, src in zip(
                        self.layers, self._layer_params, self._speed_sources, strict=True
                    )
                ],
                "history": self.history,
            }
        )

    def to_json(self, path: str | os.PathLike[str]) -> os.PathLike[str] | None:
        """Write :meth:`to_dict` as JSON (atomically; rank 0 only under DDP; None elsewhere)."""
        if not is_main_process():
            return None
        return atomic_write_json(path, self.to_dict())

    def diagnose(self, **thresholds: Any) -> Diagnosis:
        """Findings about the recorded steps; see :func:`nndl.diagnostics.diagnose`."""
        from .findings import diagnose

        return diagnose(self, **thresholds)

    def summary(self, step: int = -1) -> Table:
        """A rich table of one recorded step; see :func:`nndl.diagnostics.render.summary`."""
        from .render import summary

        return summary(self, step=step)

    def plot(self) -> Figure:
        """Learning speed per layer (log scale) and a layer × step heat map."""
        from .render import plot

        return plot(self)

    def log_to_tensorboard(self, target: str | os.PathLike[str] | Any) -> GradientMonitor:
        """Also write every recorded step to TensorBoard (rank 0 only under DDP).

        Args:
            target: a log folder, or a ``torch.utils.tensorboard.SummaryWriter``.

        Raises:
            ImportError: the ``tensorboard`` package is not installed.
        """
        from .integrations import tensorboard_sink

        sink, closer = tensorboard_sink(target)
        if sink is not None:
            self._sinks.append(sink)
        if closer is not None:
            self._closers.append(closer)
        return self

    def __repr__(self) -> str:
        return (
            f"GradientMonitor({type(self.module).__name__}, every={self.every}, "
            f"activations={self.activations}, activation_every={self.activation_every}, "
            f"layers={len(self.layers)}, "
            f"parameters={len(self.parameter_names)}, recorded={len(self._records)}, "
            f"attached={self.attached})"
        )
