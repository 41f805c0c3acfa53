r"""Findings from a :class:`~nndl.diagnostics.GradientMonitor`'s records (claims G1–G8).

Criteria (each threshold is an argument of :func:`diagnose`; the defaults are stated here):

- **vanishing** — for each of the last ``window`` recorded steps with finite gradients, take
  the layers' learning speeds :math:`s_l` (layers in module order, input side first). A step
  shows a depth problem when :math:`\max_l s_l / \min_l s_l > \text{ratio}` (default 100: the
  two orders of magnitude that claim G1 reports between the last and first hidden layer of a
  deep sigmoid net); it is vanishing when a least-squares line through :math:`\log s_l`
  against the layer index rises toward the output. Reported when more than half of the judged
  steps show it, with the median speeds and the layers slower than
  :math:`\max_l s_l / \text{ratio}`.
- **exploding** — the same spread with the line falling toward the output (the gradient grows
  geometrically toward the input, claim G4), reporting the layers faster than
  :math:`\text{ratio} \cdot \min_l s_l`; or growth over steps: over the last ``window``
  finite recorded steps before any non-finite one, the global gradient norm
  :math:`\lVert g \rVert` grew by more than ``growth`` (default 10×) from the first to the
  last and rose at no fewer than ``rising`` (default 3/4) of the consecutive steps (three
  steps are needed, or two when the next recorded step overflowed to NaN/Inf).
- **nonfinite** — any recorded gradient holds NaN or Inf (the extreme end of exploding).
- **saturation** — a sigmoid/tanh module whose share of outputs with
  :math:`\sigma'(z) < 1\%` of its maximum averages more than ``fraction`` (default 1/4) over
  the window. Only sigmoid and tanh units are judged: ReLU and logits cannot saturate this way.
- **dead_units** — a ReLU-family module whose share of units that output exactly zero for the
  whole batch averages more than ``fraction`` over the window (a unit that is zero for only
  some examples is ReLU working normally). Activation findings are judged on the recorded steps
  whose gradients are finite.

A layer whose bias gradient is below 10⁻⁴ of its weight-based speed has its bias absorbed by a
following normalisation (BatchNorm subtracts the batch mean, so that gradient is exactly zero by
construction); its weight-based speed is used instead.
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass, field
from itertools import pairwise
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
    """

    kind: str
    layers: tuple[str, ...]
    numbers: dict[str, float]
    message: str
    remedies: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "layers": list(self.layers),
            "numbers": dict(self.numbers),
            "message": self.message,
            "remedies": list(self.remedies),
        }

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class Diagnosis(list):
    """The list of :class:`Finding` returned by :func:`diagnose`, with a one-line ``note``.

    The note says what was judged ("12 recorded steps, 5 layers: no problem found") or why
    nothing could be ("nothing recorded yet …"). An empty diagnosis is a healthy model only
    when :attr:`judged` is True.
    """

    def __init__(self, findings: list[Finding] = (), *, note: str = "", judged: bool = True):
        super().__init__(findings)
        self.note = note
        self.judged = judged

    def __str__(self) -> str:
        lines = [self.note] if self.note else []
        lines += [f"- {finding}" for finding in self]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Diagnosis({list.__repr__(self)}, note={self.note!r})"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _slope(values: list[float]) -> float:
    """Least-squares slope of log(values) against their index."""
    logs = [math.log(v) for v in values]
    n = len(logs)
    mean_x, mean_y = (n - 1) / 2, sum(logs) / n
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(logs))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den if den else 0.0


def _finite_records(monitor: GradientMonitor, window: int) -> list[Any]:
    """The last ``window`` records whose gradients are all finite (and present somewhere)."""
    usable = [
        r
        for r in monitor.records
        if not any(r.nonfinite) and any(n is not None for n in r.grad_norms)
    ]
    return usable[-window:]


def _depth_pattern(
    monitor: GradientMonitor, record: Any, ratio: float
) -> tuple[str, dict[str, float], float, float] | None:
    """("vanishing" | "exploding", speeds, spread, slope) for one record, or None if healthy."""
    speeds = {
        name: speed
        for name, speed in zip(
            monitor.layers, monitor._speeds(record, diagnostic=True), strict=True
        )
        if math.isfinite(speed)
    }
    if len(speeds) < 2:
        return None
    values = list(speeds.values())
    top, bottom = max(values), min(values)
    if top <= 0 or not (bottom == 0 or top / bottom > ratio):
        return None
    slope = _slope([v if v > 0 else top * 1e-30 for v in values])
    spread = math.inf if bottom == 0 else top / bottom
    return ("vanishing" if slope > 0 else "exploding"), speeds, spread, slope


def _depth_findings(monitor: GradientMonitor, window: int, ratio: float) -> list[Finding]:
    records = _finite_records(monitor, window)
    patterns = [p for p in (_depth_pattern(monitor, r, ratio) for r in records) if p is not None]
    findings = []
    recurrent = (_LSTM,) if monitor._recurrent else ()
    for kind in ("vanishing", "exploding"):
        hits = [p for p in patterns if p[0] == kind]
        if not records or len(hits) * 2 <= len(records):  # must hold at most of the steps
            continue
        names = [n for n in monitor.layers if all(n in h[1] for h in hits)]
        speeds = {n: statistics.median(h[1][n] for h in hits) for n in names}
        spread = statistics.median(h[2] for h in hits)
        factor = math.exp(-statistics.median(h[3] for h in hits))  # per layer toward the input
        values = list(speeds.values())
        top, bottom = max(values), min(values)
        numbers = {f"speed[{n}]": v for n, v in speeds.items()}
        numbers.update(spread=spread, factor_toward_input=factor, steps=len(hits))
        shared = (
            f"{names[0]} {_fmt(values[0])} vs {names[-1]} {_fmt(values[-1])} (median over "
            f"{len(hits)} of {len(records)} recorded steps), a spread of {_fmt(spread)}× "
            f"(> {_fmt(ratio)}) across {len(names)} layers, ×{_fmt(factor)} per layer toward "
            "the input"
        )
        if kind == "vanishing":
            layers = tuple(n for n in names if speeds[n] < top / ratio)
            message = f"learning speed falls toward the input: {shared}; slowest: "
        else:
            layers = tuple(n for n in names if speeds[n] > bottom * ratio)
            message = f"gradient grows toward the input: {shared}; largest: "
        message += ", ".join(layers)
        findings.append(Finding(kind, layers, numbers, message, REMEDIES[kind] + recurrent))
    return findings


def _global_norm(record: Any) -> float | None:
    norms = [n for n in record.grad_norms if n is not None]
    if not norms:
        return None
    return math.sqrt(sum(n * n for n in norms))


def _growth_finding(
    monitor: GradientMonitor, window: int, growth: float, rising: float
) -> Finding | None:
    series: list[tuple[int, float]] = []
    overflowed = False
    for record in monitor.records:
        total = _global_norm(record)
        if any(record.nonfinite) or total is None or not math.isfinite(total):
            overflowed = any(record.nonfinite)
            break
        series.append((record.step, total))
    series = series[-window:]
    # geometric growth needs 3 points; 2 suffice when the next step overflowed
    if len(series) < (2 if overflowed else 3):
        return None
    first, last = series[0][1], series[-1][1]
    if first <= 0 or last / first <= growth:
        return None
    ups = sum(b[1] > a[1] for a, b in pairwise(series))
    share = ups / (len(series) - 1)
    if share < rising:
        return None
    span = series[-1][0] - series[0][0]
    per_step = (last / first) ** (1 / span) if span else math.inf
    message = (
        f"the global gradient norm grew geometrically from {_fmt(first)} at step {series[0][0]} "
        f"to {_fmt(last)} at step {series[-1][0]} ({_fmt(last / first)}×, ×{_fmt(per_step)} per "
        f"step, rising at {ups} of {len(series) - 1} recorded steps)"
        + (", then overflowed to NaN/Inf" if overflowed else "")
    )
    numbers = {
        "first_norm": first,
        "last_norm": last,
        "growth": last / first,
        "per_step_factor": per_step,
        "rising_share": share,
    }
    extra = (_LSTM,) if monitor._recurrent else ()
    return Finding(
        "exploding", tuple(monitor.layers), numbers, message, REMEDIES["exploding"] + extra
    )


def _nonfinite_finding(monitor: GradientMonitor) -> Finding | None:
    bad_steps = [r for r in monitor.records if any(r.nonfinite)]
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
    message = (
        f"gradients hold NaN/Inf from step {first.step} on ({len(bad_steps)} of "
        f"{len(monitor.records)} recorded steps): {total} of {numel} values at step {first.step}, "
        f"in {', '.join(layers)}"
        + (
            f"; the last finite global norm was {_fmt(_global_norm(finite_before[-1]) or 0.0)}"
            if finite_before
            else "; no finite step was recorded before it"
        )
    )
    numbers = {"first_step": first.step, "steps": len(bad_steps), "values": total, **counts}
    return Finding("nonfinite", tuple(layers), numbers, message, REMEDIES["nonfinite"])


def _activation_findings(monitor: GradientMonitor, window: int, fraction: float) -> list[Finding]:
    records = [r for r in monitor.records if not any(r.nonfinite)][-window:]
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
            parts = ", ".join(f"{m} {v:.0%}" for m, v in flagged.items())
            message = f"{parts} {what}, above {fraction:.0%} (mean over {len(records)} steps)"
            numbers = {f"{key}[{m}]": v for m, v in flagged.items()}
            findings.append(Finding(kind, tuple(flagged), numbers, message, REMEDIES[kind]))
    return findings


def diagnose(
    monitor: GradientMonitor,
    *,
    ratio: float = 100.0,
    growth: float = 10.0,
    rising: float = 0.75,
    fraction: float = 0.25,
    window: int = 10,
) -> Diagnosis:
    """Judge a monitor's records by the criteria of this module's docstring.

    Args:
        monitor: the monitor to read.
        ratio: spread of learning speeds across layers that counts as vanishing/exploding.
        growth: growth of the global gradient norm over the recorded steps that counts as
            exploding (with ``rising``).
        rising: share of consecutive recorded steps on which the norm must rise.
        fraction: share of saturated outputs or dead units that is reported.
        window: number of latest recorded steps judged for speeds and activations.

    Returns:
        A :class:`Diagnosis` (a list of :class:`Finding`; empty when nothing is wrong) whose
        ``note`` also covers the cases with nothing to judge: no parameters, nothing recorded
        yet (a warning is issued too), or no gradients in the recorded steps.
    """
    check_in_range(ratio, name="ratio", low=1.0, low_inclusive=False)
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
    findings: list[Finding] = []
    nonfinite = _nonfinite_finding(monitor)
    growth_finding = _growth_finding(monitor, window, growth, rising)
    findings += _depth_findings(monitor, window, ratio)
    if growth_finding is not None:
        findings.append(growth_finding)
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
