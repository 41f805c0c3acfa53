r"""Many seeds side by side: S copies of one small network trained as one batched model.

Multi-seed experiments train the same small architecture from S initialisations. Run one by
one, a small net's step is dominated by per-operation overhead, not arithmetic, so S seeds cost
S times one seed. :class:`StackedModels` stacks the S copies' parameters along a new leading
dimension (``torch.func.stack_module_state``) and evaluates all of them in one pass:

* **grouped** (``impl="auto"``, for ``nn.Sequential`` models): every ``Linear`` is one batched
  matrix product :math:`h^{(s)\top} \mapsto W^{(s)} h^{(s)\top} + b^{(s)}` for all s at once
  (``torch.baddbmm`` on feature-major activations Tensor[S, F, B], so the stored weights
  Tensor[S, out, in] are used without a transpose), element-wise activations run as they are,
  pooling and reshapes run once on the merged (S·B) batch, and any other layer (BatchNorm,
  convolutions, PReLU, Maxout …) runs under ``vmap(functional_call)`` over its own stacked
  parameters and buffers;
* **vmap** (``impl="vmap"``, the reference, any architecture):
  ``vmap(functional_call(model, (params_s, buffers_s), x_s))`` over the whole model.

Training the copies together is *exactly* training them apart: the objective is the sum of the
per-copy mean losses :math:`\sum_s L_s(\theta_s)`, so :math:`\partial/\partial\theta_s` of the
sum is :math:`\nabla L_s(\theta_s)`; SGD (with momentum and weight decay) and Adam act element by
element, gradient clipping is done per copy, and BatchNorm keeps per-copy running statistics.
:func:`fit_stacked` runs this on the :class:`~nndl.train.Trainer` (checkpoints, resume,
progress, callbacks), with each copy drawing its own example order (:func:`copy_orders`) by
default.

Dropout (or any random layer) is not supported inside the stacked forward: vmap refuses random
operations, so results would not match the copies trained one by one.

Speed (``benchmarks/stacked.py``, 1 thread): 8 copies of the digits MLP 64-30-30-30-30-10 train
about 4-5× faster than 8 sequential runs, in about 2× the time of one run; most of the
remaining cost is the 8× arithmetic of the batched matrix products.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .._layer_kinds import ELEMENTWISE_ACTIVATIONS
from .._seed import torch_generator
from .._validation import (
    DTypeError,
    NNDLError,
    ShapeError,
    ValidationError,
    _tensors,
    check_choice,
    check_in_range,
    check_int,
)
from .trainer import Callback, NonFiniteLossError, Trainer

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "StackedLoss",
    "StackedModels",
    "copy_orders",
    "fit_stacked",
    "stacked_accuracy",
    "stacked_losses",
    "stacked_trainer",
]

#: ``loss(outputs, targets) -> Tensor[S]``: per-copy mean losses from outputs Tensor[S, B, *]
#: and targets Tensor[S, B, *] (one batch per copy) or Tensor[B, *] (shared).
StackedLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# parameter-free element-wise layers: run as they are on (S, B, *)
_ELEMENTWISE = (nn.Identity, *ELEMENTWISE_ACTIVATIONS)
# parameter-free layers that treat each example on its own: run once on the merged S·B batch
_PER_EXAMPLE = (
    nn.Flatten,
    nn.Unflatten,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
)
# layers whose expected input has a known number of dimensions (batch included)
_INPUT_DIMS: tuple[tuple[type[nn.Module], int], ...] = (
    (nn.Linear, 2),
    (nn.Conv1d, 3),
    (nn.Conv2d, 4),
    (nn.Conv3d, 5),
)


def _input_dims_of(model: nn.Module) -> int | None:
    """Dims of one copy's input batch, from the first layer of a Sequential (None: unknown)."""
    first: nn.Module = model
    while isinstance(first, nn.Sequential) and len(first):
        first = first[0]
    for cls, dims in _INPUT_DIMS:
        if isinstance(first, cls):
            return dims
    if isinstance(getattr(first, "in_features", None), int):
        return 2  # Maxout and other Linear-like layers
    return None


class StackedModels(nn.Module):
    r"""S copies of one architecture (different initialisations) evaluated as one model.

    The copies' parameters and buffers are stacked along a new first dimension: a parameter of
    shape (\*p) becomes Tensor[S, \*p] under the same name (``stacked.stack.<name>``), so one
    optimiser over :meth:`parameters` updates all copies, and ``state_dict`` / checkpoints hold
    every copy. :meth:`member` and :meth:`unstack` give ordinary modules back.

    Args:
        models: S ≥ 1 modules of the same class with the same parameter and buffer names,
            shapes and dtypes (e.g. the same builder called under S seeds), on one device.
        impl: ``"auto"`` (grouped layers for ``nn.Sequential``, else vmap) or ``"vmap"``
            (``vmap(functional_call)`` over the whole model: the reference).
        input_dims: number of dimensions of one copy's input batch, e.g. 2 for an MLP's (B, D),
            4 for a CNN's (B, C, H, W); None: read from the first layer (Linear, Maxout, ConvNd).
            :meth:`forward` uses it to tell a shared batch from one batch per copy.

    Attributes:
        stack: the copies as one module of the original class whose tensors carry the leading
            S dimension (do not call it directly; call the StackedModels).
        seeds: the seeds given to :meth:`from_factory` (else ``(0, …, S−1)``); they key each
            copy's example order in :func:`fit_stacked`.
        diverged: Tensor[S] bool, copies whose loss became non-finite under
            ``fit_stacked(on_nonfinite="freeze")``.

    Shape:
        - input: (B, \*) shared by all copies, or (S, B, \*) one batch per copy.
        - output: (S, B, \*out).

    Example:
        >>> from nndl.nn import mlp
        >>> stacked = StackedModels.from_factory(lambda s: mlp([4, 8, 3]), seeds=range(5))
        >>> stacked(torch.zeros(10, 4)).shape
        torch.Size([5, 10, 3])

    Raises:
        ValidationError / DTypeError: no models, models that differ in class or tensors, an
            unknown ``impl``.
    """

    diverged: torch.Tensor

    def __init__(
        self,
        models: Sequence[nn.Module],
        *,
        impl: str = "auto",
        input_dims: int | None = None,
    ):
        super().__init__()
        models = _check_models(models)
        self.impl = check_choice(impl, ("auto", "vmap"), name="impl")
        dims = input_dims if input_dims is not None else _input_dims_of(models[0])
        self.input_dims = None if dims is None else check_int(dims, name="input_dims", low=1)
        params, buffers = stack_module_state(list(models))
        # one copy of models[0] whose tensors are replaced by the stacked ones (deepcopy's memo
        # hands it the stacked tensors instead of copies of the originals)
        originals = dict(models[0].named_parameters()) | dict(models[0].named_buffers())
        memo: dict[int, Any] = {
            id(originals[name]): nn.Parameter(value.detach().clone())
            for name, value in params.items()
        }
        memo.update(
            {id(originals[name]): value.detach().clone() for name, value in buffers.items()}
        )
        self.stack = copy.deepcopy(models[0], memo)
        self.seeds: tuple[int, ...] = tuple(range(len(models)))
        self.register_buffer(
            "diverged", torch.zeros(len(models), dtype=torch.bool, device=_device_of(models[0]))
        )
        self._grouped = self.impl == "auto" and isinstance(self.stack, nn.Sequential)
        self._plan = _plan(self.stack) if self._grouped else []

    @classmethod
    def from_factory(
        cls,
        factory: Callable[[int], nn.Module],
        seeds: Sequence[int] | range,
        **kwargs: Any,
    ) -> StackedModels:
        """Build ``factory(seed)`` for every seed and stack them.

        The global RNG is seeded with ``seed`` (``torch.manual_seed``) just before each call, so
        a factory that only builds a model (``lambda s: mlp([64, 30, 10])``) gives copy s the
        initialisation ``torch.manual_seed(s)`` gives it; the CPU RNG state is restored
        afterwards.

        Args:
            factory: ``seed -> module``.
            seeds: S distinct ints.
            **kwargs: passed to the constructor (``impl``, ``input_dims``).
        """
        seeds = [check_int(s, name="seed", low=0) for s in seeds]
        if len(set(seeds)) != len(seeds):
            raise ValidationError(f"seeds must be distinct, got {seeds}")
        state = torch.get_rng_state()
        try:
            models = []
            for seed in seeds:
                torch.manual_seed(seed)
                models.append(factory(seed))
        finally:
            torch.set_rng_state(state)
        stacked = cls(models, **kwargs)
        stacked.seeds = tuple(seeds)
        return stacked

    @property
    def n_models(self) -> int:
        """S, the number of copies."""
        return int(self.diverged.shape[0])

    # -- forward ----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All copies on a shared batch (B, \\*) or one batch each (S, B, \\*) → (S, B, \\*out)."""
        shared = self._is_shared(x)
        if self._grouped:
            return self._grouped_forward(x, shared)
        return _vmap_call(self.stack, x, shared)

    def _is_shared(self, x: torch.Tensor) -> bool:
        if not isinstance(x, torch.Tensor):
            raise DTypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        s = self.n_models
        if self.input_dims is None:
            raise ValidationError(
                "StackedModels cannot tell a shared batch from one batch per copy for this "
                "model; pass input_dims= (dims of one copy's input batch) to the constructor"
            )
        if x.dim() == self.input_dims:
            return True
        if x.dim() == self.input_dims + 1 and x.shape[0] == s:
            return False
        raise ShapeError(
            f"x must have {self.input_dims} dims (a batch shared by the copies) or "
            f"{self.input_dims + 1} with first size S = {s} (one batch per copy), "
            f"got shape {tuple(x.shape)}",
            ("S?", "B", "*"),
            tuple(x.shape),
        )

    def _grouped_forward(self, h: torch.Tensor, shared: bool) -> torch.Tensor:
        """Run the plan. Runs of Linear and element-wise layers work feature-major, on
        hᵀ (S, F, B): ``baddbmm(b, W, hᵀ)`` uses the stacked weights (S, out, in) as they are
        stored, so neither the forward nor the backward pass transposes or copies them."""
        s = self.n_models
        feature_major = False
        for kind, layer in self._plan:
            if kind == "elementwise":
                h = layer(h)
                continue
            if kind == "linear" and isinstance(layer, nn.Linear) and h.dim() == 3 - shared:
                if not feature_major:
                    h, feature_major = h.transpose(-1, -2), True
                hs = h.expand(s, *h.shape) if shared else h
                if layer.bias is not None:
                    h = torch.baddbmm(layer.bias.unsqueeze(2), layer.weight, hs)
                else:
                    h = torch.bmm(layer.weight, hs)
                shared = False
                continue
            if feature_major:
                h, feature_major = h.transpose(-1, -2), False
            if kind == "per_example":
                if not shared:
                    merged = layer(h.reshape(s * h.shape[1], *h.shape[2:]))
                    h = merged.reshape(s, h.shape[1], *merged.shape[1:])
                else:  # still one batch for all copies: run the layer once
                    h = layer(h)
                continue
            h = _vmap_call(layer, h, shared)
            shared = False
        if feature_major:
            h = h.transpose(-1, -2)
        if shared:  # only parameter-free layers ran: every copy gives the same output
            h = h.expand(s, *h.shape)
        return h

    # -- copies back --------------------------------------------------------------------------
    def member(self, i: int) -> nn.Module:
        """Copy ``i`` as an ordinary module (a new one holding its current weights and buffers,
        in the stack's training mode)."""
        check_int(i, name="i", low=-self.n_models, high=self.n_models - 1)
        memo: dict[int, Any] = {
            id(p): nn.Parameter(p[i].detach().clone(), requires_grad=p.requires_grad)
            for p in self.stack.parameters()
        }
        memo.update({id(b): b[i].detach().clone() for b in self.stack.buffers()})
        return copy.deepcopy(self.stack, memo).train(self.training)

    def unstack(self) -> list[nn.Module]:
        """Every copy as an ordinary module, in order (see :meth:`member`)."""
        return [self.member(i) for i in range(self.n_models)]

    def named_stacked_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """``(name, Tensor[S, *shape])`` with the original models' parameter names."""
        yield from self.stack.named_parameters()

    def grad_norms(self, pattern: str = "*") -> dict[str, torch.Tensor]:
        r"""Per-copy gradient norms :math:`\|\partial C/\partial\theta\|_2` of each parameter
        whose name matches the ``fnmatch`` ``pattern`` (e.g. ``"*.bias"`` for Nielsen's
        learning speeds :math:`\|\partial C/\partial b_l\|`).

        Returns:
            ``{name: Tensor[S]}`` in parameter order (a parameter without a gradient gives 0).

        Raises:
            ValidationError: ``pattern`` matches no parameter, or none has a gradient yet.
        """
        out: dict[str, torch.Tensor] = {}
        any_grad = False
        for name, p in self.stack.named_parameters():
            if not fnmatch.fnmatchcase(name, pattern):
                continue
            if p.grad is None:
                out[name] = torch.zeros(self.n_models, dtype=p.dtype, device=p.device)
            else:
                any_grad = True
                out[name] = p.grad.detach().flatten(1).norm(dim=1)
        if not out:
            names = [n for n, _ in self.stack.named_parameters()]
            raise ValidationError(f"pattern {pattern!r} matches no parameter of {names}")
        if not any_grad:
            raise ValidationError(
                f"no parameter matching {pattern!r} has a gradient; call backward first"
            )
        return out

    def extra_repr(self) -> str:
        return f"n_models={self.n_models}, impl={self.impl!r}"


def _plan(seq: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers of a (nested) Sequential in order, each tagged with how to run it stacked:
    ``"linear"`` (one batched matrix product), ``"elementwise"`` (a parameter-free activation,
    applied as it is), ``"per_example"`` (parameter-free and example-wise, e.g. pooling or
    flattening: once on the merged S·B batch) or ``"vmap"``."""
    plan: list[tuple[str, nn.Module]] = []
    for layer in seq.children():
        if isinstance(layer, nn.Sequential):
            plan.extend(_plan(layer))
        elif type(layer) is nn.Linear:
            plan.append(("linear", layer))
        elif type(layer) in _ELEMENTWISE and not any(
            True for _ in [*layer.parameters(), *layer.buffers()]
        ):
            plan.append(("elementwise", layer))
        elif isinstance(layer, _PER_EXAMPLE) and not any(
            True for _ in [*layer.parameters(), *layer.buffers()]
        ):
            plan.append(("per_example", layer))
        else:
            plan.append(("vmap", layer))
    return plan


def _check_models(models: Sequence[nn.Module]) -> list[nn.Module]:
    if isinstance(models, nn.Module) or not isinstance(models, Sequence):
        raise DTypeError(f"models must be a sequence of nn.Module, got {type(models).__name__}")
    models = list(models)
    if not models:
        raise ValidationError("models must hold at least one module, got none")
    for i, m in enumerate(models):
        if not isinstance(m, nn.Module):
            raise DTypeError(f"models[{i}] must be an nn.Module, got {type(m).__name__}")
    ref = models[0]

    def signature(m: nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype, str]]:
        tensors = [*m.named_parameters(), *m.named_buffers()]
        return [(n, tuple(t.shape), t.dtype, t.device.type) for n, t in tensors]

    expected = signature(ref)
    if not any(True for _ in ref.parameters()):
        raise ValidationError(f"models must have parameters; {type(ref).__name__} has none")
    for i, m in enumerate(models[1:], start=1):
        if type(m) is not type(ref):
            raise ValidationError(
                f"models must share one class, got {type(ref).__name__} and "
                f"{type(m).__name__} (models[{i}])"
            )
        got = signature(m)
        if got != expected:
            diff = next((a, b) for a, b in itertools.zip_longest(expected, got) if a != b)
            raise ValidationError(
                f"models must have the same parameters and buffers; models[{i}] has {diff[1]} "
                f"where models[0] has {diff[0]}"
            )
    return models


def _device_of(module: nn.Module) -> torch.device:
    for t in [*module.parameters(), *module.buffers()]:
        return t.device
    return torch.device("cpu")


def _vmap_call(module: nn.Module, x: torch.Tensor, shared: bool) -> torch.Tensor:
    """``vmap(functional_call)`` of ``module`` over its stacked parameters and buffers."""
    params: dict[str, torch.Tensor] = dict(module.named_parameters())
    buffers: dict[str, torch.Tensor] = dict(module.named_buffers())

    def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xs: torch.Tensor) -> Any:
        return functional_call(module, (p, b), (xs,))

    out: torch.Tensor = vmap(one, in_dims=(0, 0, None if shared else 0))(params, buffers, x)
    return out


# ---------------------------------------------------------------------------------------------
# Losses and evaluation
# ---------------------------------------------------------------------------------------------
def _cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-copy mean cross-entropy: logits (S, B, K, *), classes (S, B, *) or shared (B, *)."""
    target = y.expand(out.shape[0], *y.shape) if y.dim() == out.dim() - 2 else y
    # (S, K, B, *) puts the classes where cross_entropy wants them, with no copy of the logits
    losses = F.cross_entropy(out.movedim(2, 1), target, reduction="none")
    return losses.flatten(1).mean(dim=1)


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out - y.to(out.dtype)).pow(2).flatten(1).mean(dim=1)


_LOSSES: dict[str, StackedLoss] = {"cross_entropy": _cross_entropy, "mse": _mse}


def _loss_fn(loss: str | StackedLoss) -> StackedLoss:
    if isinstance(loss, str):
        return _LOSSES[check_choice(loss, tuple(_LOSSES), name="loss")]
    if not callable(loss):
        raise DTypeError(f"loss must be a name or a callable, got {type(loss).__name__}")
    return loss


def _check_data(stacked: StackedModels, x: torch.Tensor, y: torch.Tensor) -> None:
    if not isinstance(stacked, StackedModels):
        raise DTypeError(f"stacked must be a StackedModels, got {type(stacked).__name__}")
    _tensors((x, y), ("x", "y"))
    if x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"x and y must share their first dimension N, got {x.shape[0]} and {y.shape[0]}",
            ("N", "*"),
            tuple(y.shape),
        )
    if x.shape[0] == 0:
        raise ValidationError("x must hold at least one example, got 0")


def _per_copy_data(
    stacked: StackedModels, x: torch.Tensor, y: torch.Tensor, independent_batches: bool
) -> bool:
    """Whether ``(x, y)`` hold one data set per copy: x (S, N, \\*) and y (S, N, \\*)."""
    dims, s = stacked.input_dims, stacked.n_models
    if dims is None or x.dim() != dims + 1 or x.shape[0] != s:
        return False
    if y.dim() < 2 or y.shape[1] != x.shape[1]:
        raise ShapeError(
            f"y must be (S, N, *) like x's one data set per copy {tuple(x.shape[:2])}, "
            f"got {tuple(y.shape)}",
            ("S", "N", "*"),
            tuple(y.shape),
        )
    if not independent_batches:
        raise ValidationError("one data set per copy needs independent_batches=True, got False")
    return True


@torch.no_grad()
def stacked_losses(
    stacked: StackedModels,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str | StackedLoss = "cross_entropy",
    batch_size: int = 4096,
) -> torch.Tensor:
    """Each copy's mean loss on ``(x, y)`` in eval mode (restored afterwards).

    Args:
        stacked: the copies.
        x: Tensor[N, \\*] shared inputs.
        y: Tensor[N] class indices (``"cross_entropy"``) or Tensor[N, \\*] targets.
        loss: ``"cross_entropy"``, ``"mse"`` or a :data:`StackedLoss`.
        batch_size: examples per forward pass (memory).

    Returns:
        Tensor[S].
    """
    _check_data(stacked, x, y)
    fn = _loss_fn(loss)
    was = stacked.training
    stacked.eval()
    total = torch.zeros(stacked.n_models, dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        total += fn(stacked(xb), yb).double() * xb.shape[0]
    stacked.train(was)
    return (total / x.shape[0]).float()


@torch.no_grad()
def stacked_accuracy(
    stacked: StackedModels, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096
) -> torch.Tensor:
    """Each copy's share of ``argmax(logits) == y`` on shared inputs, in eval mode.

    Args:
        stacked: the copies (outputs (S, N, K) logits).
        x: Tensor[N, \\*].
        y: Tensor[N] class indices.
        batch_size: examples per forward pass.

    Returns:
        Tensor[S] in [0, 1].
    """
    _check_data(stacked, x, y)
    was = stacked.training
    stacked.eval()
    correct = torch.zeros(stacked.n_models, dtype=torch.long, device=x.device)
    for start in range(0, x.shape[0], batch_size):
        logits = stacked(x[start : start + batch_size])
        correct += (logits.argmax(dim=-1) == y[start : start + batch_size]).sum(dim=1)
    stacked.train(was)
    return correct.float() / x.shape[0]


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def copy_orders(
    n: int, seeds: Sequence[int], *, seed: int, epoch: int, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """The example order of every copy in epoch ``epoch``: Tensor[S, n], row s a permutation.

    Row s depends only on ``(seed, epoch, seeds[s])``, so a copy sees the same batches whatever
    other copies are trained beside it, and training it alone on ``x[order[start:start+B]]``
    reproduces it.
    """
    rows = [
        torch.randperm(
            n, generator=torch_generator((((seed * 1_000_003) + epoch) * 1_000_033 + s) % 2**62)
        )
        for s in seeds
    ]
    return torch.stack(rows).to(device)


class _StackedStep:
    """The Trainer step of :func:`fit_stacked` and the callback that keeps copies apart."""

    def __init__(
        self,
        stacked: StackedModels,
        x: torch.Tensor,
        y: torch.Tensor,
        loss: StackedLoss,
        *,
        independent: bool,
        seed: int,
        grad_clip: float | None,
        freeze: bool,
        per_copy: bool = False,
    ):
        self.stacked, self.x, self.y, self.loss = stacked, x, y, loss
        self.per_copy = per_copy
        self.independent, self.seed = independent, seed
        self.grad_clip, self.freeze = grad_clip, freeze
        self.x_epoch: torch.Tensor | None = None
        self.y_epoch: torch.Tensor | None = None

    def __call__(self, trainer: Trainer, batch: tuple[torch.Tensor, ...]) -> dict[str, Any]:
        if self.independent:
            xb, yb = self._copy_batches(batch[0])
        else:
            xb, yb = batch[0], batch[1]
        losses = self.loss(trainer.model(xb), yb)  # (S,)
        if self.freeze:
            finite = torch.isfinite(losses.detach())
            self.stacked.diverged |= ~finite
            keep = ~self.stacked.diverged
            total = torch.where(keep, losses, torch.zeros_like(losses)).sum()
        else:
            total = losses.sum()
        try:
            trainer.optimize(total)
        except NonFiniteLossError:
            bad = (~torch.isfinite(losses.detach())).nonzero().flatten().tolist()
            raise NonFiniteLossError(
                f"the loss of copies {bad} (seeds {[self.stacked.seeds[i] for i in bad]}) "
                f"became non-finite at epoch {trainer.epoch + 1}, step {trainer.step + 1}; "
                "training stopped before the update. Use on_nonfinite='freeze' to keep "
                "training the others, or a lower learning rate / grad_clip."
            ) from None
        return {"loss": losses.detach()}

    def _copy_batches(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each copy's examples at ``positions`` of its own order: (S, B, *) and (S, B, *)."""
        if self.x_epoch is None or self.y_epoch is None:
            raise NNDLError("the per-copy example order was not drawn (no epoch started)")
        first, last = int(positions[0]), int(positions[-1])
        if last - first + 1 == positions.numel():  # a contiguous range: views, no gather
            return self.x_epoch[:, first : last + 1], self.y_epoch[:, first : last + 1]
        return self.x_epoch[:, positions], self.y_epoch[:, positions]

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        if self.independent:
            orders = copy_orders(
                self.x.shape[int(self.per_copy)],
                self.stacked.seeds,
                seed=self.seed,
                epoch=epoch,
                device=self.x.device,
            )
            if self.per_copy:  # copy s takes its own examples: x[s, orders[s]]
                rows = torch.arange(orders.shape[0], device=orders.device).unsqueeze(1)
                self.x_epoch, self.y_epoch = self.x[rows, orders], self.y[rows, orders]
            else:
                self.x_epoch, self.y_epoch = self.x[orders], self.y[orders]  # (S, N, *)

    def on_after_backward(self, trainer: Trainer) -> None:
        frozen = self.freeze and bool(self.stacked.diverged.any())
        if not frozen and self.grad_clip is None:
            return
        grads = [p.grad for p in self.stacked.parameters() if p.grad is not None]
        if frozen:
            for g in grads:
                g[self.stacked.diverged] = 0.0
        if self.grad_clip is not None and grads:
            # torch.nn.utils.clip_grad_norm_ applied to each copy on its own
            sq = torch.stack([g.detach().flatten(1).pow(2).sum(1) for g in grads]).sum(0)
            coef = (self.grad_clip / (sq.sqrt() + 1e-6)).clamp(max=1.0)
            for g in grads:
                g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))


class _StepCallback(Callback):
    def __init__(self, step: _StackedStep):
        self.step_fn = step

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.step_fn.on_epoch_start(trainer, epoch)

    def on_after_backward(self, trainer: Trainer) -> None:
        self.step_fn.on_after_backward(trainer)


def _make_optimizer(
    name: str | Callable[[Any], torch.optim.Optimizer],
    params: list[nn.Parameter],
    lr: float,
    momentum: float,
    weight_decay: float,
    betas: tuple[float, float],
) -> torch.optim.Optimizer:
    if callable(name):
        return name(params)
    check_choice(name, ("sgd", "adam"), name="optimizer")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)


class StackedOptions(TypedDict, total=False):
    """The keyword arguments of :func:`stacked_trainer`, which :func:`fit_stacked` passes on
    (their meaning: :func:`fit_stacked`; their defaults: :func:`stacked_trainer`'s signature)."""

    loss: str | StackedLoss
    optimizer: str | Callable[[Any], torch.optim.Optimizer]
    lr: float
    momentum: float
    weight_decay: float
    betas: tuple[float, float]
    epochs: int | None
    batch_size: int | None
    max_steps: int | None
    seed: int
    independent_batches: bool
    grad_clip: float | None
    on_nonfinite: str
    callbacks: Sequence[Callback]
    metrics: Mapping[str, Callable[[nn.Module], Any]] | None
    checkpoint_dir: str | os.PathLike[str] | None
    checkpoint_every: int
    device: str | torch.device | None
    progress: bool | None
    description: str


def stacked_trainer(
    stacked: StackedModels,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str | StackedLoss = "cross_entropy",
    optimizer: str | Callable[[Any], torch.optim.Optimizer] = "sgd",
    lr: float = 0.1,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    epochs: int | None = None,
    batch_size: int | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    independent_batches: bool = True,
    grad_clip: float | None = None,
    on_nonfinite: str = "raise",
    callbacks: Sequence[Callback] = (),
    metrics: Mapping[str, Callable[[nn.Module], Any]] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 1,
    device: str | torch.device | None = None,
    progress: bool | None = False,
    description: str = "stacked",
) -> tuple[Trainer, tuple[torch.Tensor, ...]]:
    """The :class:`~nndl.train.Trainer` and its data for :func:`fit_stacked` (the same arguments
    but ``resume``, documented there), for callers that want the trainer itself (its ``step``,
    ``optimizer``, ``save_checkpoint``). :func:`fit_stacked` is this, then ``trainer.fit``.

    Returns:
        ``(trainer, data)``: run ``trainer.fit(data, resume=...)``.
    """
    _check_data(stacked, x, y)
    per_copy = _per_copy_data(stacked, x, y, independent_batches)
    n = x.shape[int(per_copy)]
    fn = _loss_fn(loss)
    check_in_range(lr, name="lr", low=0.0, low_inclusive=False)
    check_in_range(momentum, name="momentum", low=0.0, high=1.0, high_inclusive=False)
    check_in_range(weight_decay, name="weight_decay", low=0.0)
    check_choice(on_nonfinite, ("raise", "freeze"), name="on_nonfinite")
    if grad_clip is not None and not grad_clip > 0:
        raise ValidationError(f"grad_clip must be > 0 or None, got {grad_clip}")
    if epochs is None:
        if max_steps is None:
            raise ValidationError("give epochs, max_steps, or both")
        per_epoch = 1 if batch_size is None else -(-n // max(1, batch_size))
        epochs = -(-check_int(max_steps, name="max_steps", low=1) // per_epoch)
    dev = torch.device(device) if device is not None else _device_of(stacked)
    stacked.to(dev)
    x, y = x.to(dev), y.to(dev)
    full = batch_size is None or batch_size >= n
    independent = bool(independent_batches) and not full
    step = _StackedStep(
        stacked,
        x,
        y,
        fn,
        independent=independent,
        seed=seed,
        grad_clip=grad_clip,
        freeze=on_nonfinite == "freeze",
        per_copy=per_copy,
    )
    opt = _make_optimizer(
        optimizer,
        list(stacked.parameters()),
        lr,
        momentum,
        weight_decay,
        (float(betas[0]), float(betas[1])),
    )
    data: tuple[torch.Tensor, ...] = (torch.arange(n, device=dev),) if independent else (x, y)
    trainer = Trainer(
        stacked,
        opt,
        step=step,
        epochs=epochs,
        batch_size=batch_size,
        max_steps=max_steps,
        seed=seed,
        device=dev,
        shuffle=not full and not independent,
        callbacks=[*callbacks, _StepCallback(step)],
        metrics=metrics,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        checkpoint_meta={"stacked": type(stacked.stack).__name__, "seeds": list(stacked.seeds)},
        progress=progress,
        description=description,
    )
    return trainer, data


def fit_stacked(
    stacked: StackedModels,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    resume: bool = False,
    **options: Unpack[StackedOptions],
) -> list[dict[str, Any]]:
    r"""Train the S copies of ``stacked`` at once, each exactly as if it were trained alone.

    Every step minimises :math:`\sum_s \bar L_s(\theta_s)`, the sum of the copies' mean batch
    losses, with one optimiser over the stacked parameters (see the module docstring for why
    this equals S separate runs). Runs on the :class:`~nndl.train.Trainer`: progress,
    callbacks, metrics after each epoch, checkpoints in ``checkpoint_dir`` and ``resume``.

    Args:
        stacked: the copies (trained in place, moved to ``device``).
        x: Tensor[N, \*] inputs shared by the copies, or Tensor[S, N, \*]: one data set per
            copy (copy s trains on ``x[s]``, e.g. its own draw of a small training set).
        y: Tensor[N] class indices (``"cross_entropy"``) or Tensor[N, \*] targets (``"mse"``);
            Tensor[S, N, \*] with per-copy ``x``.
        loss: ``"cross_entropy"``, ``"mse"`` (mean over the batch and the output elements) or a
            :data:`StackedLoss` ``(outputs Tensor[S, B, *], targets) -> Tensor[S]``.
        optimizer: ``"sgd"``, ``"adam"`` or a factory ``params -> optimiser`` (it must act
            element-wise for the copies to stay independent).
        lr: learning rate.
        momentum: SGD momentum.
        weight_decay: L2 weight decay (SGD and Adam's).
        betas: Adam's betas.
        epochs: passes over the data (None: as many as ``max_steps`` needs).
        batch_size: examples per step (None: full batch, every step sees all N).
        max_steps: stop after this many steps (a budget in steps; see
            :class:`~nndl.train.Trainer`).
        seed: seeds the example orders.
        independent_batches: each copy draws its own order each epoch (:func:`copy_orders`,
            keyed on the copy's seed); False: all copies see the same shuffled batches.
        grad_clip: clip each copy's total gradient norm to this value (as
            ``clip_grad_norm_`` on that copy alone).
        on_nonfinite: ``"raise"`` (stop with :class:`~nndl.train.NonFiniteLossError` naming
            the copies) or ``"freeze"`` (mark them in ``stacked.diverged``, drop their loss and
            zero their gradients, train the others on).
        callbacks: extra :class:`~nndl.train.Callback` hooks.
        metrics: ``{name: fn(stacked) -> Tensor[S] | float}`` after each epoch, e.g.
            ``{"val_acc": lambda m: stacked_accuracy(m, x_val, y_val)}``.
        checkpoint_dir: keep the trainer's checkpoint (all copies) here.
        checkpoint_every: save every this many epochs.
        resume: continue from ``checkpoint_dir``'s checkpoint (the only argument that
            :func:`stacked_trainer` does not take; the others are passed on to it, as
            :data:`StackedOptions`, with its defaults).
        device: where to train (None: where ``stacked`` is).
        progress: show a bar.
        description: the bar's label.

    Returns:
        The history: per epoch ``epoch``, ``loss`` (list of S mean training losses) and the
        metrics (lists of S values for per-copy metrics).

    Raises:
        ValidationError / ShapeError / DTypeError: bad arguments, before any training.
        NonFiniteLossError: a copy's loss became NaN/Inf with ``on_nonfinite="raise"``.

    Example:
        Five seeds of a digits MLP, with each seed's learning speeds
        :math:`\|\partial C/\partial b_l\|` recorded every 10 steps:

        >>> from nndl.nn import mlp
        >>> from nndl.train import LambdaCallback
        >>> x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
        >>> net = StackedModels.from_factory(lambda s: mlp([8, 16, 16, 3]), seeds=range(5))
        >>> speeds = []
        >>> record = LambdaCallback(on_after_backward=lambda t: t.step % 10 or speeds.append(
        ...     {k: v.tolist() for k, v in t.module.grad_norms("*.bias").items()}))
        >>> history = fit_stacked(net, x, y, lr=0.1, epochs=3, batch_size=16, callbacks=[record])
        >>> len(history[-1]["loss"]), len(speeds), len(speeds[0]["fc1.bias"])
        (5, 2, 5)
    """
    trainer, data = stacked_trainer(stacked, x, y, **options)
    return trainer.fit(data, resume=resume)
