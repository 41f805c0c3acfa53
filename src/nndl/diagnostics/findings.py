r"""Findings from a :class:`~nndl.diagnostics.GradientMonitor`'s records (claims G1–G8).

The rules read three kinds of evidence that cannot contradict one another, and every finding
states the numbers it rests on and a ``confidence`` in [0, 1]. Each threshold is an argument of
:func:`diagnose`; the defaults are stated here. Layers are in module order, input side first;
the **hidden layers** are all but the last (the output head) when there are three or more.

**Depth profile** (per recorded step with finite gradients, over the last ``window`` of them).
With learning speeds :math:`s_1, \dots, s_H` of the hidden layers (zeros floored at
:math:`10^{-12} \max_l s_l`):

- the *end ratio* :math:`\rho = s_1 / s_H`, the first hidden layer against the last;
- the *robust trend*: the Theil–Sen slope :math:`\beta = \operatorname{median}_{i<j}
  (\log s_j - \log s_i)/(j - i)` (one outlying layer, such as a dip of dead units, cannot flip
  its sign) and its *agreement*, the share of the pairwise slopes with the sign of
  :math:`\beta`.

A step is *vanishing* when :math:`\rho < 1/\text{ratio}` **and** :math:`\beta > 0` (the first
hidden layer learns more than ``ratio`` = 100 times slower than the last, and the speeds rise
toward the output), *exploding* when :math:`\rho > \text{ratio}` **and** :math:`\beta < 0`. So a
net whose first layer learns faster than its last is never called vanishing. The depth finding
needs more than half of the judged steps; its confidence is that share times the median
agreement.

**Absolute scale** (exploding only):

- gradient against weights: :math:`\lVert g \rVert / \lVert \theta \rVert > \text{scale}`
  (default 100: any learning rate above 1/scale would move the weights by more than their own
  norm in one step) at any recorded step with finite gradients whose weight norms were read
  (the records that sample activations, or every record with an optimiser watched): such a
  step is an explosion whatever follows it (a net blown up by one step may then saturate, or
  die, and show tiny gradients afterwards);
- with an optimiser watched, the update-to-weight ratio
  :math:`\lVert \Delta\theta \rVert / \lVert \theta \rVert > \text{update}` (default 1: one
  step larger than the weights themselves) at any recorded step;
- growth over steps: over the last ``window`` finite recorded steps, the global gradient norm
  :math:`\lVert g \rVert` — or the loss, when it is passed to ``record(loss=...)`` — has a
  Theil–Sen trend of :math:`\log` value against the step that multiplies it by more than
  ``growth`` (default 10×) across those steps, with at least ``rising`` (default 3/4) of the
  pairs of steps rising (three steps are needed, or two when the next one overflowed to
  NaN/Inf). The robust trend, not the first and last values, so that the oscillation of a
  learning rate that diverges does not hide its growth.

Confidence of a threshold rule: :math:`\min(1, \tfrac12 + \tfrac12 \log_{10}(x/\text{threshold}))`
(one half at the threshold, one a decade beyond it); an exploding finding takes the largest of
its lines. When any exploding line holds, no vanishing finding is made: a depth profile that
would read as vanishing beside an exploding scale (the U-shaped profile of a net that
overflows: large speeds at both ends, a dip of dead units in the middle; or an RNN whose first
exploding step saturated it) is reported as exploding, never as vanishing.

**Other findings**

- **nonfinite** — any recorded gradient, or recorded loss, holds NaN or Inf.
- **saturation** — a sigmoid/tanh module whose share of outputs with
  :math:`\sigma'(z) < 1\%` of its maximum averages more than ``fraction`` (default 1/4) over
  the last ``window`` steps that sampled activations. Only sigmoid and tanh units are judged:
  ReLU and logits cannot saturate this way.
- **dead_units** — a ReLU-family module whose share of units that output exactly zero for the
  whole batch averages more than ``fraction`` over those steps (a unit that is zero for only
  some examples is ReLU working normally). Confidence: the share of those steps above
  ``fraction``. Activation findings are judged on recorded steps with finite gradients.

A layer followed directly by a normalisation (BatchNorm, LayerNorm, GroupNorm) whose bias
gradient is below 10⁻⁴ of its weight-based speed has its bias absorbed (BatchNorm subtracts the
batch mean, so that gradient is zero by construction); its weight-based speed is used instead.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

from .._validation import check_in_range, check_int

if TYPE_CHECKING:  # pragma: no cover
    from .monitor import GradientMonitor

__all__ = ["FINDING_KINDS", "REMEDIES", "Diagnosis", "Finding", "diagnose"]

#: The kinds of :class:`Finding`.
FINDING_KINDS: tuple[str, ...] = ("vanishing", "exploding", "saturation", "dead_units", "nonfinite")

_RELU = (
    "Use a ReLU-family activation (ReLU, Leaky ReLU, PReLU, RReLU, Maxout) instead of "
    "sigmoid/tanh: its derivative is 1 for active units, so the factors w·σ'(z) do not shrink "
    "(notes, G5)."
)
_BATCHNORM = (
    "Add BatchNorm before the activations: it keeps pre-activations near zero mean and unit "
    "variance, in the non-saturated range (notes, G6)."
)
_INIT_SMALL = (
    "Initialise at the scale the activation needs: Xavier/Glorot for sigmoid/tanh, He/Kaiming "
    "for ReLU, instead of a Gaussian that is too small or too large (notes, G7)."
)
_INIT_LARGE = (
    "Reduce the initialisation scale (Xavier/Glorot or He/Kaiming instead of N(0, 1) or larger) "
    "so that |w·σ'(z)| stays near 1 (notes, G4, G7)."
)
_LSTM = (
    "Replace the vanilla RNN by an LSTM: its additive cell state carries the gradient across "
    "time steps (notes, G8)."
)
_RESIDUAL = (
    "Add residual (skip) connections, which give the gradient a path around the products of "
    "layer Jacobians."
)
_CLIP = (
    "Clip the gradient norm (Trainer(grad_clip=1.0) or torch.nn.utils.clip_grad_norm_) before "
    "each step."
)
_LOWER_LR = "Lower the learning rate."
_CHECK_INPUTS = "Check the inputs and the loss for NaN/Inf (log(0), division by zero)."
_LEAKY = (
    "Use Leaky ReLU, PReLU or ELU, whose negative side keeps a gradient so units can recover "
    "(notes, G5)."
)

#: The remedies attached to each kind of finding (recurrent models also get the LSTM advice).
REMEDIES: dict[str, tuple[str, ...]] = {
    "vanishing": (_RELU, _BATCHNORM, _INIT_SMALL, _RESIDUAL),
    "exploding": (_CLIP, _LOWER_LR, _INIT_LARGE, _BATCHNORM, _RESIDUAL),
    "nonfinite": (_CLIP, _LOWER_LR, _INIT_LARGE, _CHECK_INPUTS),
    "saturation": (_RELU, _BATCHNORM, _INIT_SMALL, _LOWER_LR),
    "dead_units": (_LEAKY, _LOWER_LR, _INIT_SMALL, _BATCHNORM),
}


@dataclass(frozen=True)
class Finding:
    """One problem found in the recorded gradients or activations.

    Attributes:
        kind: one of :data:`FINDING_KINDS`.
        layers: the layers (or activation modules) involved.
        numbers: the measured values that triggered the finding, by name.
        message: one sentence with those numbers.
        remedies: what the notes (and common practice) suggest.
        confidence: in [0, 1]: how strongly the evidence supports the finding (see the module
            docstring); below 0.75 the message says the signal is weak.
    """

    kind: str
    layers: tuple[str, ...]
    numbers: dict[str, float]
    message: str
    remedies: tuple[str, ...] = field(default_factory=tuple)
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "layers": list(self.layers),
            "numbers": dict(self.numbers),
            "message": self.message,
            "remedies": list(self.remedies),
            "confidence": self.confidence,
        }

    def __str__(self) -> str:
        return f"{self.kind} (confidence {self.confidence:.2f}): {self.message}"


class Diagnosis(list):
    """The list of :class:`Finding` returned by :func:`diagnose`, with a one-line ``note``.

    The note says what was judged ("12 recorded steps, 5 layers: no problem found") or why
    nothing could be ("nothing recorded yet …"). An empty diagnosis is a healthy model only
    when :attr:`judged` is True.
    """

    def __init__(self, findings: Sequence[Finding] = (), *, note: str = "", judged: bool = True):
        super().__init__(findings)
        self.note = note
        self.judged = judged

    @property
    def kinds(self) -> list[str]:
        """The kinds of the findings, in order."""
        return [finding.kind for finding in self]

    def __str__(self) -> str:
        lines = [self.note] if self.note else []
        lines += [f"- {finding}" for finding in self]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Diagnosis({list.__repr__(self)}, note={self.note!r})"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _beyond(value: float, threshold: float) -> float:
    """Confidence of a threshold rule: 1/2 at the threshold, 1 a decade beyond it."""
    if not value > 0 or not threshold > 0:
        return 0.0
    if math.isinf(value):
        return 1.0
    return max(0.0, min(1.0, 0.5 + 0.5 * math.log10(value / threshold)))


def _weak(confidence: float) -> str:
    return f" (weak signal: confidence {confidence:.2f})" if confidence < 0.75 else ""


def theil_sen(values: list[float]) -> tuple[float, float]:
    """Theil–Sen slope of ``values`` against their index, and the agreement of the pairs.

    Args:
        values: y_0 … y_{n-1} (n ≥ 2), e.g. log learning speeds by layer.

    Returns:
        (β, agreement): β = median over i < j of (y_j − y_i)/(j − i); agreement is the share of
        those pairwise slopes that have the sign of β (0 when β = 0).
    """
    slopes = [(values[j] - values[i]) / (j - i) for i, j in combinations(range(len(values)), 2)]
    if not slopes:
        return 0.0, 0.0
    beta = statistics.median(slopes)
    if beta == 0:
        return 0.0, 0.0
    agree = sum(1 for s in slopes if s * beta > 0) / len(slopes)
    return beta, agree


def _finite_records(monitor: GradientMonitor, window: int) -> list[Any]:
    """The last ``window`` records whose gradients are all finite (and present somewhere)."""
    usable = [
        r
        for r in monitor.records
        if not any(r.nonfinite) and any(n is not None for n in r.grad_norms)
    ]
    return usable[-window:]


@dataclass(frozen=True)
class _Profile:
    """The depth profile of one recorded step (hidden layers, finite speeds)."""

    speeds: dict[str, float]
    end_ratio: float
    slope: float
    agreement: float
    pattern: str | None  # "vanishing", "exploding" or None


def _hidden(layers: list[str]) -> list[str]:
    return layers[:-1] if len(layers) >= 3 else list(layers)


def _profile(monitor: GradientMonitor, record: Any, ratio: float) -> _Profile | None:
    all_speeds = dict(zip(monitor.layers, monitor._speeds(record, diagnostic=True), strict=True))
    speeds = {n: all_speeds[n] for n in _hidden(monitor.layers) if math.isfinite(all_speeds[n])}
    if len(speeds) < 2:
        return None
    values = list(speeds.values())
    top = max(values)
    if top <= 0:
        return None
    floor = top * 1e-12
    logs = [math.log(max(v, floor)) for v in values]
    first, last = max(values[0], floor), max(values[-1], floor)
    end_ratio = first / last
    slope, agreement = theil_sen(logs)
    pattern = None
    if end_ratio > ratio and slope < 0:
        pattern = "exploding"
    elif end_ratio < 1 / ratio and slope > 0:
        pattern = "vanishing"
    return _Profile(speeds, end_ratio, slope, agreement, pattern)


@dataclass
class _Line:
    """One line of evidence for a finding: its message, numbers, layers and confidence."""

    text: str
    numbers: dict[str, float]
    layers: tuple[str, ...]
    confidence: float


def _depth_line(
    monitor: GradientMonitor, records: list[Any], kind: str, ratio: float
) -> _Line | None:
    profiles = [p for p in (_profile(monitor, r, ratio) for r in records) if p is not None]
    hits = [p for p in profiles if p.pattern == kind]
    if not profiles or len(hits) * 2 <= len(profiles):  # must hold at most of the steps
        return None
    names = [n for n in hits[0].speeds if all(n in h.speeds for h in hits)]
    speeds = {n: statistics.median(h.speeds[n] for h in hits) for n in names}
    end_ratio = statistics.median(h.end_ratio for h in hits)
    factor = math.exp(-statistics.median(h.slope for h in hits))  # per layer toward the input
    agreement = statistics.median(h.agreement for h in hits)
    confidence = len(hits) / len(profiles) * agreement
    top, bottom = max(speeds.values()), min(speeds.values())
    if kind == "vanishing":
        layers = tuple(n for n in names if speeds[n] < top / ratio)
        verb, which = "falls toward the input", "slowest"
    else:
        layers = tuple(n for n in names if speeds[n] > max(bottom, 1e-300) * ratio)
        verb, which = "grows toward the input", "largest"
    text = (
        f"learning speed {verb}: first hidden layer {names[0]} {_fmt(speeds[names[0]])} vs last "
        f"{names[-1]} {_fmt(speeds[names[-1]])} (×{_fmt(end_ratio)}, threshold "
        f"{_fmt(ratio)}), a robust trend of ×{_fmt(factor)} per layer toward the input with "
        f"{agreement:.0%} of layer pairs agreeing (median over {len(hits)} of {len(profiles)} "
        f"recorded steps); {which}: {', '.join(layers)}"
    )
    numbers = {f"speed[{n}]": v for n, v in speeds.items()}
    numbers.update(
        end_ratio=end_ratio, factor_toward_input=factor, agreement=agreement, steps=len(hits)
    )
    return _Line(text, numbers, layers, confidence)


def _global(values: list[float | None] | None) -> float | None:
    if values is None:
        return None
    present = [v for v in values if v is not None]
    if not present:
        return None
    return math.sqrt(sum(v * v for v in present))


def _scale_line(monitor: GradientMonitor, records: list[Any], scale: float) -> _Line | None:
    ratios = []
    for record in records:
        g, w = _global(record.grad_norms), _global(record.weight_norms)
        if g is not None and w is not None and w > 0 and math.isfinite(g):
            ratios.append((record, g, w, g / w))
    over = [r for r in ratios if r[3] > scale]
    if not over:
        return None
    value = max(r[3] for r in over)
    _, g, w, _ = over[-1]
    layers = []
    last = over[-1][0]
    for name, indices in zip(monitor.layers, monitor._layer_params, strict=True):
        gl = _global([last.grad_norms[i] for i in indices])
        wl = _global([last.weight_norms[i] for i in indices])
        if gl is not None and wl and gl / wl > scale:
            layers.append(name)
    text = (
        f"the gradient reached {_fmt(value)} times the weights (||g||/||θ|| above {_fmt(scale)} "
        f"at {len(over)} of {len(ratios)} recorded steps, from step {over[0][0].step}; last "
        f"such ||g|| {_fmt(g)}, ||θ|| {_fmt(w)})"
    )
    numbers = {"grad_to_weight": value, "grad_norm": g, "weight_norm": w}
    return _Line(text, numbers, tuple(layers or monitor.layers), _beyond(value, scale))


def _update_line(records: list[Any], update: float) -> _Line | None:
    ratios = []
    for record in records:
        if record.update_ratios is None or record.weight_norms is None:
            continue
        deltas = [
            u * w
            for u, w in zip(record.update_ratios, record.weight_norms, strict=True)
            if u is not None and w is not None
        ]
        w = _global(record.weight_norms)
        if deltas and w:
            ratios.append((record.step, math.sqrt(sum(d * d for d in deltas)) / w))
    over = [r for r in ratios if r[1] > update]
    if not over:
        return None
    value = max(r[1] for r in over)
    text = (
        f"an optimiser step moved the weights by up to {_fmt(value)} times their norm "
        f"(||Δθ||/||θ|| above {_fmt(update)} at {len(over)} of {len(ratios)} steps, from step "
        f"{over[0][0]})"
    )
    return _Line(text, {"update_to_weight": value}, (), _beyond(value, update))


def _growth_line(
    series: list[tuple[int, float]], overflowed: bool, what: str, growth: float, rising: float
) -> _Line | None:
    """Geometric growth of a positive series (global gradient norm or loss) over steps."""
    # geometric growth needs 3 points; 2 suffice when the next step overflowed
    if len(series) < (2 if overflowed else 3):
        return None
    if any(v <= 0 for _, v in series):
        return None
    first, last = series[0][1], series[-1][1]
    steps = [s for s, _ in series]
    logs = [math.log(v) for _, v in series]
    slopes = [
        (logs[j] - logs[i]) / (steps[j] - steps[i])
        for i, j in combinations(range(len(series)), 2)
        if steps[j] > steps[i]
    ]
    if not slopes:
        return None
    beta = statistics.median(slopes)
    agreement = sum(1 for x in slopes if x > 0) / len(slopes)
    span = steps[-1] - steps[0]
    total = math.exp(min(beta * span, 700.0))
    if beta <= 0 or total <= growth or agreement < rising:
        return None
    per_step = math.exp(beta)
    text = (
        f"the {what} grew geometrically from {_fmt(first)} at step {series[0][0]} to "
        f"{_fmt(last)} at step {series[-1][0]} (robust trend ×{_fmt(per_step)} per step, "
        f"×{_fmt(total)} over {span} steps, {agreement:.0%} of step pairs rising)"
        + (", then overflowed to NaN/Inf" if overflowed else "")
    )
    key = "loss_" if what == "loss" else ""
    numbers = {
        f"{key}first": first,
        f"{key}last": last,
        f"{key}growth": total,
        f"{key}per_step_factor": per_step,
        f"{key}rising_share": agreement,
    }
    confidence = 1.0 if overflowed else _beyond(total, growth)
    return _Line(text, numbers, (), confidence)


def _growth_lines(
    monitor: GradientMonitor, window: int, growth: float, rising: float
) -> list[_Line]:
    lines = []
    norms: list[tuple[int, float]] = []
    overflowed = False
    for record in monitor.records:
        total = _global(record.grad_norms)
        if any(record.nonfinite) or total is None or not math.isfinite(total):
            overflowed = any(record.nonfinite)
            break
        norms.append((record.step, total))
    line = _growth_line(norms[-window:], overflowed, "global gradient norm", growth, rising)
    if line is not None:
        lines.append(line)
    losses: list[tuple[int, float]] = []
    overflowed = False
    for record in monitor.records:
        if record.loss is None:
            continue
        if not math.isfinite(record.loss):
            overflowed = True
            break
        losses.append((record.step, record.loss))
    line = _growth_line(losses[-window:], overflowed, "loss", growth, rising)
    if line is not None:
        lines.append(line)
    return lines


def _finding(
    kind: str, lines: list[_Line], monitor: GradientMonitor, layers: tuple[str, ...] = ()
) -> Finding:
    confidence = max(line.confidence for line in lines)
    numbers: dict[str, float] = {}
    for line in lines:
        numbers.update(line.numbers)
    numbers["confidence"] = confidence
    involved = layers or next((line.layers for line in lines if line.layers), ())
    message = "; ".join(line.text for line in lines) + _weak(confidence)
    extra = (_LSTM,) if monitor._recurrent else ()
    layers_out = tuple(involved or monitor.layers)
    return Finding(kind, layers_out, numbers, message, REMEDIES[kind] + extra, confidence)


def _depth_findings(
    monitor: GradientMonitor,
    window: int,
    ratio: float,
    scale: float,
    update: float,
    growth: float,
    rising: float,
) -> list[Finding]:
    records = _finite_records(monitor, window)
    history = _finite_records(monitor, len(monitor.records))
    exploding = [
        line
        for line in (
            _depth_line(monitor, records, "exploding", ratio),
            _scale_line(monitor, history, scale),
            _update_line(history, update),
        )
        if line is not None
    ]
    exploding += _growth_lines(monitor, window, growth, rising)
    if exploding:
        return [_finding("exploding", exploding, monitor)]
    vanishing = _depth_line(monitor, records, "vanishing", ratio)
    if vanishing is not None:
        return [_finding("vanishing", [vanishing], monitor)]
    return []


def _nonfinite_finding(monitor: GradientMonitor) -> Finding | None:
    bad_steps = [
        r
        for r in monitor.records
        if any(r.nonfinite) or (r.loss is not None and not math.isfinite(r.loss))
    ]
    if not bad_steps:
        return None
    first = bad_steps[0]
    layers: list[str] = []
    counts: dict[str, float] = {}
    for i, count in enumerate(first.nonfinite):
        if count:
            layer = monitor.layers[monitor._param_layer[i]]
            if layer not in layers:
                layers.append(layer)
            counts[f"nonfinite[{monitor.parameter_names[i]}]"] = count
    total = sum(first.nonfinite)
    numel = sum(p.numel() for p in monitor._params)
    finite_before = [r for r in monitor.records if r.step < first.step]
    last_norm = _global(finite_before[-1].grad_norms) if finite_before else None
    where = (
        f"{total} of {numel} gradient values at step {first.step}, in {', '.join(layers)}"
        if total
        else f"the loss is {first.loss} at step {first.step}"
    )
    message = (
        f"NaN/Inf from step {first.step} on ({len(bad_steps)} of {len(monitor.records)} "
        f"recorded steps): {where}"
        + (
            f"; the last finite global norm was {_fmt(last_norm or 0.0)}"
            if finite_before
            else "; no finite step was recorded before it"
        )
    )
    numbers = {"first_step": first.step, "steps": len(bad_steps), "values": total, **counts}
    return Finding("nonfinite", tuple(layers), numbers, message, REMEDIES["nonfinite"])


def _activation_findings(monitor: GradientMonitor, window: int, fraction: float) -> list[Finding]:
    records = [r for r in monitor.records if r.activations and not any(r.nonfinite)][-window:]
    findings = []
    for key, kind, what in (
        ("saturated_fraction", "saturation", "of outputs saturated (σ'(z) < 1% of its maximum)"),
        ("dead_fraction", "dead_units", "of units zero for the whole batch"),
    ):
        shares: dict[str, list[float]] = {}
        for record in records:
            for module, stats in record.activations.items():
                value = stats.get(key)
                if value is not None and math.isfinite(value):
                    shares.setdefault(module, []).append(value)
        means = {m: sum(v) / len(v) for m, v in shares.items()}
        flagged = {m: v for m, v in means.items() if v > fraction}
        if flagged:
            confidence = min(sum(x > fraction for x in shares[m]) / len(shares[m]) for m in flagged)
            parts = ", ".join(f"{m} {v:.0%}" for m, v in flagged.items())
            message = (
                f"{parts} {what}, above {fraction:.0%} (mean over {len(records)} steps that "
                f"sampled activations)" + _weak(confidence)
            )
            numbers = {f"{key}[{m}]": v for m, v in flagged.items()}
            numbers["confidence"] = confidence
            findings.append(
                Finding(kind, tuple(flagged), numbers, message, REMEDIES[kind], confidence)
            )
    return findings


def diagnose(
    monitor: GradientMonitor,
    *,
    ratio: float = 100.0,
    scale: float = 100.0,
    update: float = 1.0,
    growth: float = 10.0,
    rising: float = 0.75,
    fraction: float = 0.25,
    window: int = 10,
) -> Diagnosis:
    """Judge a monitor's records by the criteria of this module's docstring.

    Args:
        monitor: the monitor to read.
        ratio: first-to-last hidden-layer speed ratio that counts as vanishing/exploding.
        scale: gradient-to-weight norm ratio that counts as exploding.
        update: update-to-weight ratio of one optimiser step that counts as exploding.
        growth: growth of the global gradient norm (or of the loss) over the recorded steps
            that counts as exploding (with ``rising``).
        rising: share of the pairs of recorded steps on which the norm (or loss) must rise.
        fraction: share of saturated outputs or dead units that is reported.
        window: number of latest recorded steps judged.

    Returns:
        A :class:`Diagnosis` (a list of :class:`Finding`; empty when nothing is wrong) whose
        ``note`` also covers the cases with nothing to judge: no parameters, nothing recorded
        yet (a warning is issued too), or no gradients in the recorded steps.

    Raises:
        ValidationError: a threshold out of its range (named in the message).
    """
    check_in_range(ratio, name="ratio", low=1.0, low_inclusive=False)
    check_in_range(scale, name="scale", low=0.0, low_inclusive=False)
    check_in_range(update, name="update", low=0.0, low_inclusive=False)
    check_in_range(growth, name="growth", low=1.0, low_inclusive=False)
    check_in_range(rising, name="rising", low=0.0, high=1.0)
    check_in_range(fraction, name="fraction", low=0.0, high=1.0)
    check_int(window, name="window", low=1)
    records = monitor.records
    if not monitor.parameter_names and not monitor._hook_targets:
        return Diagnosis(
            note="nothing to diagnose: the model has no trainable parameters (and no activation "
            "modules) to monitor",
            judged=False,
        )
    if not records:
        note = (
            "nothing to diagnose yet: no step was recorded; call monitor.record() after "
            "loss.backward() (or train with Trainer(..., callbacks=[monitor]))"
        )
        warnings.warn(note, stacklevel=3)
        return Diagnosis(note=note, judged=False)
    have_grads = any(n is not None for r in records for n in r.grad_norms)
    have_acts = any(r.activations for r in records)
    if monitor.parameter_names and not have_grads and not have_acts:
        note = (
            f"nothing to diagnose: none of the {len(records)} recorded steps had a gradient "
            "(param.grad is None); was record() called before loss.backward()?"
        )
        warnings.warn(note, stacklevel=3)
        return Diagnosis(note=note, judged=False)
    findings = _depth_findings(monitor, window, ratio, scale, update, growth, rising)
    nonfinite = _nonfinite_finding(monitor)
    if nonfinite is not None:
        findings.append(nonfinite)
    findings += _activation_findings(monitor, window, fraction)
    judged = (
        f"{len(records)} recorded step{'s' if len(records) != 1 else ''} (steps "
        f"{records[0].step}–{records[-1].step}), {len(monitor.layers)} layers"
    )
    if findings:
        note = f"{judged}: {len(findings)} finding{'s' if len(findings) != 1 else ''}"
    else:
        note = f"{judged}: no problem found"
    return Diagnosis(findings, note=note)
