r"""A labelled zoo of training runs that scores a gradient diagnosis (benchmarks/gradient_zoo.py).

Each :class:`ZooRun` builds a small network whose problem is known by construction — vanishing
(deep sigmoid or tanh nets, a too-small initialisation), exploding (a too-large initialisation,
including the U-shaped 20-layer ReLU net, a learning rate that diverges, a vanilla RNN with large
recurrent weights on long sequences), dead ReLUs (large negative biases, a too-high learning
rate), saturation (tanh or sigmoid at a large scale) or healthy (BatchNorm, LayerNorm, residual,
LSTM, transformer, a shallow sigmoid net) — and trains it with plain SGD, batch 64, on the
digits (8 × 8 images, 64 features) or on synthetic sequences, under a
:class:`~nndl.diagnostics.GradientMonitor` with its defaults (``record(loss=...)`` after
backward, ``watch_optimizer``). :func:`run_zoo_case` diagnoses after a given list of steps (1,
5 and 50 by default) in one training run.

A run's label is **right** when every expected finding kind is reported and every other
reported kind is among those the run tolerates (the consequences of its problem: an exploding
net may overflow to NaN and kill ReLU units on the way; a deep saturated net may also vanish).
The expectations are fixed by the construction, never by what the diagnosis said.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from .._validation import ValidationError, check_int
from ..nn import cnn, init_, mlp
from .findings import FINDING_KINDS
from .monitor import GradientMonitor

__all__ = ["ARCHITECTURES", "LABELS", "ZOO", "ZooCase", "ZooRun", "run_zoo_case"]

#: The problem labels of the zoo ("healthy" expects no finding at all).
LABELS: tuple[str, ...] = ("vanishing", "exploding", "dead_units", "saturation", "healthy")
#: The architectures of the zoo.
ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn", "resnet", "rnn", "lstm", "transformer")

BATCH = 64
SEQ_FEATURES = 4


@dataclass(frozen=True)
class ZooRun:
    """One labelled training run of the zoo.

    Attributes:
        name: a short unique name.
        arch: one of :data:`ARCHITECTURES`.
        label: one of :data:`LABELS`.
        build: ``build(seed) -> nn.Module`` (seeded inside).
        lr: SGD learning rate.
        data: ``"digits"`` (flat 64-vectors), ``"images"`` (1 × 8 × 8) or ``"seq<T>"``
            (synthetic sequences of length T, 4 features).
        loss: ``"ce"`` (cross-entropy on 10 classes) or ``"mse"`` (one-hot targets).
        tolerated: finding kinds that may be reported besides the label's.
    """

    name: str
    arch: str
    label: str
    build: Callable[[int], nn.Module]
    lr: float
    data: str = "digits"
    loss: str = "ce"
    tolerated: frozenset[str] = field(default_factory=frozenset)

    @property
    def expected(self) -> frozenset[str]:
        """The finding kinds that must be reported (none for a healthy run)."""
        return frozenset() if self.label == "healthy" else frozenset({self.label})

    def right(self, kinds: Sequence[str]) -> bool:
        """Whether a diagnosis with these finding kinds labels the run right."""
        found = set(kinds)
        return self.expected <= found <= self.expected | self.tolerated


@dataclass(frozen=True)
class ZooCase:
    """The diagnoses of one run and seed at each requested step count."""

    run: ZooRun
    seed: int
    kinds: dict[int, tuple[str, ...]]  # steps → finding kinds
    messages: dict[int, str]

    def right(self, steps: int) -> bool:
        return self.run.right(self.kinds[steps])


# -- models ---------------------------------------------------------------------------------
class _SeqNet(nn.Module):
    """A recurrent classifier: RNN/LSTM over (N, T, 4), a linear head on the last state."""

    def __init__(self, cell: str, hidden: int = 32, nonlinearity: str = "tanh"):
        super().__init__()
        if cell == "lstm":
            self.rnn: nn.RNNBase = nn.LSTM(SEQ_FEATURES, hidden, batch_first=True)
        else:
            self.rnn = nn.RNN(SEQ_FEATURES, hidden, nonlinearity=nonlinearity, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class _Transformer(nn.Module):
    """Input projection, learned positions, pre-LN encoder layers, mean pooling, head."""

    def __init__(self, length: int, d: int = 32, layers: int = 2):
        super().__init__()
        self.embed = nn.Linear(SEQ_FEATURES, d)
        self.pos = nn.Parameter(torch.randn(length, d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d, nhead=4, dim_feedforward=2 * d, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x) + self.pos).mean(dim=1))


class _Block(nn.Module):
    """A residual block: x + BN(conv(ReLU(BN(conv(x))))) then ReLU (or without BatchNorm)."""

    def __init__(self, channels: int, batchnorm: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=not batchnorm)
        self.bn1 = nn.BatchNorm2d(channels) if batchnorm else nn.Identity()
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=not batchnorm)
        self.bn2 = nn.BatchNorm2d(channels) if batchnorm else nn.Identity()
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(x + self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x))))))


def _resnet(blocks: int = 3, channels: int = 16, batchnorm: bool = True) -> nn.Module:
    stem: list[nn.Module] = [nn.Conv2d(1, channels, 3, padding=1, bias=not batchnorm)]
    if batchnorm:
        stem.append(nn.BatchNorm2d(channels))
    stem.append(nn.ReLU())
    return nn.Sequential(
        *stem,
        *[_Block(channels, batchnorm) for _ in range(blocks)],
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, 10),
    )


def _plain_cnn(depth: int, activation: type[nn.Module], channels: int = 16) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(1, channels, 3, padding=1), activation()]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), activation()]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 64, 10))


def _layernorm_mlp(width: int = 128, depth: int = 4) -> nn.Sequential:
    layers: list[nn.Module] = []
    n_in = 64
    for _ in range(depth):
        layers += [nn.Linear(n_in, width), nn.LayerNorm(width), nn.ReLU()]
        n_in = width
    return nn.Sequential(*layers, nn.Linear(width, 10))


_Make = Callable[[], nn.Module]


def _mlp(hidden: Sequence[int], activation: str, **kwargs: Any) -> _Make:
    """A digits MLP 64 → ``hidden`` → 10 (:func:`nndl.nn.mlp`)."""
    return lambda: mlp([64, *hidden, 10], activation=activation, **kwargs)


def _cnn(**kwargs: Any) -> _Make:
    """:func:`nndl.nn.cnn` on 1 × 8 × 8 images, conv channels (16, 32), 10 classes."""
    return lambda: cnn(1, 10, 8, channels=(16, 32), **kwargs)


def _init(make: _Make, scheme: str, **kwargs: Any) -> _Make:
    """``make()`` re-initialised by :func:`nndl.nn.init_` with ``scheme`` and ``kwargs``."""
    return lambda: init_(make(), scheme, **kwargs)


def _negative_bias(make: _Make, bias: float) -> _Make:
    """Hidden Linear layers' biases set to ``bias`` on three quarters of their units."""

    def build() -> nn.Module:
        model = make()
        linears = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)][:-1]
        with torch.no_grad():
            for layer in linears:
                if layer.bias is not None:
                    layer.bias[: 3 * layer.bias.numel() // 4] = bias
        return model

    return build


def _large_recurrent(make: _Make, radius: float) -> _Make:
    """Recurrent weights set to ``radius`` × a random orthogonal matrix."""

    def build() -> nn.Module:
        model = make()
        for name, p in model.named_parameters():
            if "weight_hh" in name:
                with torch.no_grad():
                    nn.init.orthogonal_(p)
                    p.mul_(radius)
        return model

    return build


def _run(
    label: str,
    name: str,
    make: _Make,
    lr: float,
    tolerated: Iterable[str] = (),
    data: str = "digits",
    loss: str = "ce",
) -> ZooRun:
    """The :class:`ZooRun` ``name`` (its first word is the architecture): ``build(seed)`` seeds
    torch's global RNG, then calls ``make()``."""

    def build(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return make()

    arch = name.split()[0].rstrip(",")
    return ZooRun(name, arch, label, build, lr, data, loss, frozenset(tolerated))


def _rnn(radius: float, **kwargs: Any) -> _Make:
    """A vanilla-RNN :class:`_SeqNet` with recurrent weights ``radius`` × orthogonal."""
    return _large_recurrent(lambda: _SeqNet("rnn", **kwargs), radius)


_SQRT8 = math.sqrt(8.0)


def _zoo() -> tuple[ZooRun, ...]:
    """The table of runs, grouped by label: name, build, lr, tolerated finding kinds, data, loss."""
    vanishing, exploding, dead, saturation, healthy = (partial(_run, label) for label in LABELS)
    deep, wide = [64] * 10, [128, 128]
    xavier, he = "xavier_normal", "kaiming_normal"
    # consequences tolerated: an exploding net may overflow to NaN and kill ReLU units on the
    # way; a deep saturated net may also vanish, a vanishing one saturate
    side, sat, van = ("nonfinite", "dead_units"), ("saturation",), ("vanishing",)
    nielsen = _init(_mlp([30] * 6, "sigmoid"), "gaussian", fan_in_scaled=True, bias_std=1.0)
    runs = [
        vanishing("mlp sigmoid ×6, Nielsen init", nielsen, 0.1, sat),
        vanishing("mlp sigmoid ×10, Xavier", _init(_mlp(deep, "sigmoid"), xavier), 0.5, sat),
        vanishing(
            "mlp tanh ×10, init 0.25×Xavier", _init(_mlp(deep, "tanh"), xavier, std=0.25), 0.1
        ),
        vanishing(
            "mlp relu ×10, init 0.5×He",
            _init(_mlp(deep, "relu"), he, std=0.5),
            0.1,
            ("dead_units",),
        ),
        vanishing(
            "cnn sigmoid ×6", _init(lambda: _plain_cnn(6, nn.Sigmoid), xavier), 0.1, sat, "images"
        ),
        exploding(
            "mlp relu ×20 w128, N(0, 8/n) (U-shaped)",
            _init(_mlp([128] * 20, "relu"), "gaussian", std=_SQRT8, fan_in_scaled=True),
            0.1,
            side,
        ),
        exploding(
            "mlp relu ×20 w64, N(0, 8/n)",
            _init(_mlp([64] * 20, "relu"), "gaussian", std=_SQRT8, fan_in_scaled=True),
            0.1,
            side,
        ),
        exploding("mlp relu ×8, init 3×He", _init(_mlp([64] * 8, "relu"), he, std=3.0), 0.1, side),
        exploding(
            "mlp tanh, diverging lr (MSE)", _mlp([64, 64], "tanh"), 6.0, side + sat, loss="mse"
        ),
        exploding(
            "cnn relu ×8, init 3×He",
            _init(lambda: _plain_cnn(8, nn.ReLU), he, std=3.0),
            0.01,
            side,
            "images",
        ),
        exploding(
            "resnet (no BN), init 3×He",
            _init(lambda: _resnet(batchnorm=False), he, std=3.0),
            0.01,
            side,
            "images",
        ),
        exploding(
            "rnn relu, recurrent 1.5×orthogonal, T=60",
            _rnn(1.5, nonlinearity="relu"),
            0.01,
            side,
            "seq60",
        ),
        exploding("rnn tanh, recurrent 3×orthogonal, T=60", _rnn(3.0), 0.01, side + sat, "seq60"),
        dead("mlp relu, biases −3", _negative_bias(_mlp(wide, "relu"), -3.0), 0.1),
        dead("cnn relu, biases −3", _negative_bias(_cnn(), -3.0), 0.05, (), "images"),
        dead("mlp relu, lr too high", _mlp(wide, "relu"), 10.0, ("exploding", "nonfinite")),
        saturation(
            "mlp tanh, N(0, 1) weights", _init(_mlp([100, 100], "tanh"), "gaussian"), 0.1, van
        ),
        saturation(
            "mlp sigmoid, N(0, 1) weights", _init(_mlp([100, 100], "sigmoid"), "gaussian"), 0.1, van
        ),
        saturation(
            "cnn tanh, init 8×Xavier",
            _init(_cnn(activation="tanh"), xavier, std=8.0),
            0.05,
            van,
            "images",
        ),
        healthy("mlp sigmoid, shallow", _mlp([30], "sigmoid"), 0.5),
        healthy("mlp relu ×4, He", _init(_mlp([128] * 3, "relu"), he), 0.05),
        healthy("mlp relu ×6 + BatchNorm", _mlp([128] * 6, "relu", batchnorm=True), 0.1),
        healthy("mlp relu ×4 + LayerNorm", _layernorm_mlp, 0.1),
        healthy("cnn relu + BatchNorm", _cnn(batchnorm=True), 0.1, (), "images"),
        healthy("resnet ×3 + BatchNorm", _resnet, 0.1, (), "images"),
        healthy("rnn tanh, T=10", lambda: _SeqNet("rnn"), 0.05, (), "seq10"),
        healthy("lstm, T=30", lambda: _SeqNet("lstm"), 0.5, (), "seq30"),
        healthy("transformer ×2, pre-LN", lambda: _Transformer(16), 0.05, (), "seq16"),
    ]
    for run in runs:
        assert run.arch in ARCHITECTURES and run.label in LABELS, run.name
        assert run.tolerated <= set(FINDING_KINDS), run.name
    return tuple(runs)


#: The labelled runs (see the module docstring).
ZOO: tuple[ZooRun, ...] = _zoo()


# -- data and training -----------------------------------------------------------------------
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from ..data import load_digits_split

    split = load_digits_split(seed=0)
    assert split.y_train is not None
    return split.x_train.float(), split.y_train.long()


def _sequences(length: int, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T, 4) Gaussian sequences; the class is a quantile bin of the first step's features."""
    x = torch.randn(n, length, SEQ_FEATURES, generator=gen)
    score = x[:, 0].sum(dim=1) / 2.0  # ~ N(0, 1)
    y = torch.bucketize(score, torch.linspace(-1.3, 1.3, 9)).clamp(0, 9)
    return x, y


def make_data(run: ZooRun, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The run's training data (inputs, integer labels), seeded."""
    if run.data in ("digits", "images"):
        x, y = _digits()
        return (x.view(-1, 1, 8, 8) if run.data == "images" else x), y
    if run.data.startswith("seq"):
        gen = torch.Generator().manual_seed(1000 + seed)
        return _sequences(int(run.data[3:]), 1024, gen)
    raise ValidationError(f"data must be digits, images or seq<T>, got {run.data!r}")


def _loss(run: ZooRun, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if run.loss == "mse":
        return nn.functional.mse_loss(logits, nn.functional.one_hot(y, 10).float())
    return nn.functional.cross_entropy(logits, y)


def run_zoo_case(
    run: ZooRun,
    seed: int,
    steps: Sequence[int] = (1, 5, 50),
    monitor_factory: Callable[[nn.Module], GradientMonitor] = GradientMonitor,
    data: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> ZooCase:
    """Train ``run`` with seed ``seed`` and diagnose after each of ``steps`` optimiser steps.

    Args:
        run: the labelled run.
        seed: seeds the weights, the data order and synthetic data.
        steps: increasing step counts at which :meth:`GradientMonitor.diagnose` is called.
        monitor_factory: builds the monitor (default: ``GradientMonitor`` with its defaults).
        data: the run's data when already loaded (else :func:`make_data`).

    Returns:
        The finding kinds and messages at each step count.

    Raises:
        ValidationError: empty or non-increasing ``steps``.
    """
    counts = [check_int(s, name="steps", low=1) for s in steps]
    if not counts or any(b <= a for a, b in pairwise(counts)):
        raise ValidationError(f"steps must be increasing positive counts, got {list(steps)}")
    check_int(seed, name="seed", low=0)
    model = run.build(seed)
    x, y = data if data is not None else make_data(run, seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=run.lr)
    monitor = monitor_factory(model)
    monitor.watch_optimizer(opt)
    kinds: dict[int, tuple[str, ...]] = {}
    messages: dict[int, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow warnings of the exploding runs
        for step in range(1, counts[-1] + 1):
            idx = torch.randint(0, x.shape[0], (BATCH,), generator=gen)
            opt.zero_grad(set_to_none=True)
            loss = _loss(run, model(x[idx]), y[idx])
            loss.backward()
            monitor.record(loss=loss)
            opt.step()
            if step in counts:
                diagnosis = monitor.diagnose()
                kinds[step] = tuple(diagnosis.kinds)
                messages[step] = str(diagnosis)
    monitor.detach()
    return ZooCase(run, seed, kinds, messages)
