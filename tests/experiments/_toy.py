"""A toy experiment for the framework's tests: measure counts its calls, judge reads a rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from nndl.experiments import Range, Rule, Verdict, register
from nndl.experiments.registry import _REGISTRY

CALLS = {"measure": 0}


@dataclass
class ToyConfig:
    value: Annotated[float, Range(-10.0, 10.0)] = 1.0
    n: int = 3
    fail: bool = False


TOY_RULE = Rule(
    claim="F2",
    statistic="the measured value",
    holds="value > threshold",
    does_not_hold="value < threshold",
    inconclusive="value == threshold",
    seeds=1,
    rationale="a toy",
    params={"threshold": 0.0},
)


def measure(cfg: ToyConfig, ctx: Any) -> dict[str, Any]:
    CALLS["measure"] += 1
    if cfg.fail:
        raise RuntimeError("boom")
    return {"value": cfg.value, "pair": (1, 2), "spread": float("inf")}


def judge(metrics: Any, cfg: ToyConfig) -> list[Verdict]:
    value = metrics["value"]
    threshold = TOY_RULE["threshold"]
    holds = None if value == threshold else value > threshold
    reason = "value equals the threshold" if holds is None else ""
    return [Verdict.from_check("F2", holds, f"value {value}", key=f"{value}", reason=reason)]


def draw(metrics: Any, cfg: ToyConfig, canvas: Any) -> None:
    fig, ax = canvas.subplots()
    ax.plot([0, 1], [0, metrics["value"]])
    canvas.save(fig, "line", "a line")
    canvas.table("numbers", ["value"], [[metrics["value"]]])


def register_toy(name: str = "f9_toy", **parts: Any) -> str:
    register(
        name,
        claims=("F2",),
        title="toy",
        config=ToyConfig,
        presets={"quick": {}, "full": {"value": 2.0}, "tiny": {}},
        rules=(TOY_RULE,),
        measure=parts.get("measure", measure),
        judge=parts.get("judge", judge),
        draw=parts.get("draw", draw),
        notes="toy notes",
    )
    return name


def unregister(name: str = "f9_toy") -> None:
    _REGISTRY.pop(name, None)
