r"""P1–P3: what pooling buys a CNN — compression, invariance and receptive field.

Four variants of the same CNN (``nndl.nn.cnn``: conv 3×3 blocks with ReLU, then a linear
read-out) differ only in how they downsample after each convolution:

- ``max``: :math:`y_{ij} = \max_{(p, q) \in 2\times2(i, j)} x_{pq}` (a local maximum);
- ``avg``: :math:`y_{ij} = \tfrac14 \sum_{(p, q) \in 2\times2(i, j)} x_{pq}` (a local mean);
- ``stride``: no pooling module, the convolution itself has stride 2 (it skips positions);
- ``none``: stride 1 and no pooling (the maps keep the input's size).

P1 counts parameters, multiply-adds and activation memory per example (``nndl.analysis.model_cost``)
and trains every variant on the digits (or MNIST) over several seeds: does pooling compress and
reduce the train–test gap? P2 measures, on the trained networks, how much the penultimate
representation (cosine similarity) and the prediction change under translations, elastic
deformations and rescaling. P3 computes the receptive field of every layer
(``nndl.analysis.receptive_field``) with and without pooling and checks it against the support
of a unit's input gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from nndl import ValidationError, seed_everything
from nndl.analysis import (
    elastic_deform,
    gradient_support,
    model_cost,
    prediction_change,
    receptive_field,
    representation_similarity,
    rescale,
    translate,
)
from nndl.data import load_digits_split, load_mnist
from nndl.nn import cnn
from nndl.train import Trainer, accuracy, supervised_loss

from .context import Context
from .registry import register
from .result import Result, Table, Verdict

VARIANTS: tuple[str, ...] = ("max", "avg", "none", "stride")
_COLOURS = {"max": "C0", "avg": "C1", "none": "C3", "stride": "C2"}


# -- data and training shared by P1 and P2 ---------------------------------------------------------
@dataclass
class ImageSet:
    """Train/test images (N, C, H, W) and labels of one data set."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def load_images(spec: str, seed: int, max_train: int, max_test: int) -> ImageSet:
    """``"digits"`` (a seeded, stratified split) or ``"mnist:DIR"`` (the first images of each)."""
    if spec == "digits":
        split = load_digits_split(seed)
        return ImageSet(
            split.images(split.x_train),
            split.y_train,
            split.images(split.x_test),
            split.y_test,
            "digits",
        )
    kind, _, directory = spec.partition(":")
    if kind != "mnist" or not directory:
        raise ValidationError(f"data must be 'digits' or 'mnist:DIR', got {spec!r}")
    train, test = load_mnist(directory, "train"), load_mnist(directory, "test")
    return ImageSet(
        train.images[:max_train],
        train.labels[:max_train],
        test.images[:max_test],
        test.labels[:max_test],
        "mnist",
    )


@dataclass
class CNNTraining:
    """How every CNN variant is built and trained."""

    data: str = "digits"
    channels: tuple[int, ...] = (8, 16)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-2
    max_train: int = 10000
    max_test: int = 2000


def _train_cnn(pool: str, images: ImageSet, cfg: CNNTraining, seed: int, ctx: Context):
    seed_everything(seed)
    c, h, w = images.shape
    n_classes = int(images.y_train.max()) + 1
    model = cnn(c, n_classes, (h, w), channels=cfg.channels, pool=pool).to(ctx.device)
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=cfg.lr),
        supervised_loss(),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        seed=seed,
        device=ctx.device,
        description=f"{pool} pooling, seed {seed}",
    )
    trainer.fit((images.x_train.to(ctx.device), images.y_train.to(ctx.device)))
    return model.eval()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# -- P1 ------------------------------------------------------------------------------------------
@dataclass
class P1Config(CNNTraining):
    variants: tuple[str, ...] = VARIANTS
    seeds: int = 3


@register(
    "p1_pooling_cost",
    claims=("P1",),
    title="Pooling compresses a CNN (parameters, multiply-adds, memory) and reduces overfitting",
    config=P1Config,
    presets={
        "tiny": {"epochs": 1, "seeds": 2, "channels": (4, 8), "batch_size": 256},
        "quick": {},
        "full": {"channels": (16, 32), "epochs": 40, "seeds": 5, "lr": 2e-3, "batch_size": 64},
    },
)
def run_p1(cfg: P1Config, ctx: Context) -> Result:
    images = load_images(cfg.data, ctx.seed, cfg.max_train, cfg.max_test)
    x_tr, y_tr = images.x_train.to(ctx.device), images.y_train.to(ctx.device)
    x_te, y_te = images.x_test.to(ctx.device), images.y_test.to(ctx.device)
    costs, train_acc, test_acc = {}, {}, {}
    for pool in ctx.track(cfg.variants, "P1 variants"):
        tr, te = [], []
        for s in range(cfg.seeds):
            model = _train_cnn(pool, images, cfg, ctx.seed + s, ctx)
            if s == 0:
                costs[pool] = model_cost(model, images.shape)
            tr.append(accuracy(model, x_tr, y_tr))
            te.append(accuracy(model, x_te, y_te))
        train_acc[pool], test_acc[pool] = np.array(tr), np.array(te)
    gap = {p: train_acc[p] - test_acc[p] for p in cfg.variants}

    def mean_se(a: np.ndarray) -> tuple[float, float]:
        se = float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else 0.0
        return float(a.mean()), se

    # verdict: compression, then overfitting (gap = train - test accuracy, mean over seeds)
    pooled = [p for p in ("max", "avg") if p in cfg.variants]
    compression = (
        "none" in cfg.variants
        and bool(pooled)
        and all(
            getattr(costs[p], f) < getattr(costs["none"], f)
            for p in pooled
            for f in ("parameters", "multiply_adds", "activation_bytes")
        )
    )
    gap_diff: dict[str, tuple[float, float]] = {}
    if "none" in cfg.variants:
        for p in pooled:
            diff = gap["none"] - gap[p]
            se = (
                math.sqrt(gap["none"].var(ddof=1) / cfg.seeds + gap[p].var(ddof=1) / cfg.seeds)
                if cfg.seeds > 1
                else float("nan")
            )
            gap_diff[p] = (float(diff.mean()), se)
    reduced = {p: d > 2 * se for p, (d, se) in gap_diff.items()}
    worse = {p: d < -2 * se for p, (d, se) in gap_diff.items()}
    if not compression:
        holds: bool | None = False
    elif gap_diff and all(reduced.values()):
        holds = True
    elif any(worse.values()) or (gap_diff and all(d <= 0 for d, _ in gap_diff.values())):
        holds = False
    else:
        holds = None
    none_cost = costs.get("none")
    ratio = (
        ", ".join(
            f"{p}: {none_cost.parameters / costs[p].parameters:.1f}× fewer parameters, "
            f"{none_cost.multiply_adds / costs[p].multiply_adds:.1f}× fewer multiply-adds, "
            f"{none_cost.activation_bytes / costs[p].activation_bytes:.1f}× less activation memory"
            for p in pooled
        )
        if none_cost
        else "no unpooled baseline"
    )
    gaps = ", ".join(
        f"{p} {mean_se(gap[p])[0] * 100:.1f}±{mean_se(gap[p])[1] * 100:.1f}" for p in cfg.variants
    )
    tests = ", ".join(
        f"{p} {train_acc[p].mean() * 100:.1f}/{test_acc[p].mean() * 100:.1f}%" for p in cfg.variants
    )
    evidence = (
        f"Against no pooling — {ratio}. Train−test accuracy gap (points, mean±SE over "
        f"{cfg.seeds} seeds): {gaps}; train/test accuracy: {tests}. Criterion: pooling must cut "
        "all three costs, and the gaps of max and avg pooling must be below no pooling's by more "
        "than 2 SE (holds); a pooled gap above it by 2 SE, or no pooled gap below it, does not "
        "hold; otherwise inconclusive."
    )
    if compression and holds is not True:
        evidence += " The compression part holds; the overfitting part is what fails or is unclear."

    # figures
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    fields = [
        ("parameters", "parameters"),
        ("multiply_adds", "multiply-adds"),
        ("activation_bytes", "activation bytes"),
    ]
    xs = np.arange(len(fields))
    width = 0.8 / len(cfg.variants)
    for i, p in enumerate(cfg.variants):
        vals = [getattr(costs[p], f) for f, _ in fields]
        axes[0].bar(xs + i * width, vals, width, label=p, color=_COLOURS.get(p))
    axes[0].set_xticks(xs + width * (len(cfg.variants) - 1) / 2, [lbl for _, lbl in fields])
    axes[0].set_yscale("log")
    axes[0].set_title("Cost per example")
    axes[0].legend(title="pooling")
    xs = np.arange(len(cfg.variants))
    for offset, (label, acc) in zip(
        (-0.2, 0.2), (("train", train_acc), ("test", test_acc)), strict=True
    ):
        axes[1].bar(
            xs + offset,
            [acc[p].mean() for p in cfg.variants],
            0.4,
            yerr=[acc[p].std() for p in cfg.variants],
            label=label,
            alpha=0.8,
        )
    for x, p in zip(xs, cfg.variants, strict=True):
        axes[1].text(x, 1.03, f"gap {gap[p].mean() * 100:.1f}", ha="center", fontsize=8)
    axes[1].set_xticks(xs, cfg.variants)
    axes[1].set_ylim(0, 1.12)
    axes[1].set_title(f"Accuracy on {images.name} (mean ± std over {cfg.seeds} seeds)")
    axes[1].legend(loc="lower right")
    ctx.save_figure(
        fig,
        "cost_and_accuracy",
        "Left: parameters, multiply-adds and activation memory per example (log scale). "
        "Right: train and test accuracy; the number is the gap in points.",
    )

    rows = []
    for p in cfg.variants:
        c = costs[p]
        rows.append(
            [
                p,
                c.parameters,
                c.multiply_adds,
                c.activation_bytes,
                round(float(train_acc[p].mean()), 4),
                round(float(test_acc[p].mean()), 4),
                round(mean_se(gap[p])[0], 4),
                round(mean_se(gap[p])[1], 4),
            ]
        )
    table = Table(
        f"CNN variants on {images.name} ({cfg.seeds} seeds)",
        [
            "pooling",
            "parameters",
            "multiply-adds",
            "activation bytes",
            "train acc",
            "test acc",
            "gap",
            "gap SE",
        ],
        rows,
    )
    key = (
        f"params ÷{none_cost.parameters / costs['max'].parameters:.1f}, gap "
        f"{gap['max'].mean() * 100:.1f} vs {gap['none'].mean() * 100:.1f} pts"
        if none_cost and "max" in costs
        else ""
    )
    return Result(
        metrics={
            "cost": {
                p: {
                    "parameters": c.parameters,
                    "multiply_adds": c.multiply_adds,
                    "activation_bytes": c.activation_bytes,
                }
                for p, c in costs.items()
            },
            "train_accuracy": {p: train_acc[p].tolist() for p in cfg.variants},
            "test_accuracy": {p: test_acc[p].tolist() for p in cfg.variants},
            "gap_mean": {p: float(gap[p].mean()) for p in cfg.variants},
            "gap_reduction_vs_none": {p: {"mean": d, "se": se} for p, (d, se) in gap_diff.items()},
            "compression": compression,
        },
        verdicts=[Verdict.from_check("P1", holds, evidence, key=key)],
        tables=[table],
        notes="Pooling shrinks the maps fourfold per block, so the read-out layer and every later "
        "convolution see fewer positions: fewer parameters, multiply-adds and stored activations. "
        "Whether that smaller model also generalises better is an empirical question: a smaller "
        "gap can also come from fitting the training set less well.",
    )


# -- P2 ------------------------------------------------------------------------------------------
@dataclass
class P2Config(CNNTraining):
    variants: tuple[str, ...] = VARIANTS
    shifts: tuple[int, ...] = (1, 2, 3)
    elastic_alphas: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
    elastic_sigma: float = 1.0
    scales: tuple[float, ...] = (0.5, 0.75, 1.25, 1.5)
    max_eval: int = 1000


def _transforms(cfg: P2Config, gen: torch.Generator):
    """{family: [(magnitude, fn(images) -> transformed)]}; magnitude 0 / factor 1 is identity."""

    def shift_all(m: int):
        dirs = [(m, 0), (-m, 0), (0, m), (0, -m)]
        return lambda x: [translate(x, d) for d in dirs]

    def elastic(a: float):
        state = gen.get_state()  # the same fields for every variant

        def fn(x):
            g = torch.Generator().manual_seed(0)
            g.set_state(state)
            return [elastic_deform(x, a, cfg.elastic_sigma, generator=g)]

        return fn

    return {
        "translation": [(0.0, lambda x: [x])] + [(float(m), shift_all(m)) for m in cfg.shifts],
        "elastic": [(0.0, lambda x: [x])] + [(float(a), elastic(a)) for a in cfg.elastic_alphas],
        "rescaling": sorted(
            [(1.0, lambda x: [x])]
            + [(float(s), lambda x, s=s: [rescale(x, s)]) for s in cfg.scales],
            key=lambda t: t[0],
        ),
    }


_AXIS = {
    "translation": "shift (px, mean of 4 directions)",
    "elastic": "elastic α (px)",
    "rescaling": "scale factor",
}


@register(
    "p2_pooling_invariance",
    claims=("P2",),
    title="Pooled features change less under translation, elastic deformation and rescaling",
    config=P2Config,
    presets={
        "tiny": {
            "epochs": 1,
            "channels": (4, 8),
            "batch_size": 256,
            "shifts": (1, 2),
            "elastic_alphas": (1.0,),
            "scales": (0.75,),
            "max_eval": 100,
        },
        "quick": {},
        "full": {
            "channels": (16, 32),
            "epochs": 40,
            "lr": 2e-3,
            "batch_size": 64,
            "max_eval": 10000,
        },
    },
)
def run_p2(cfg: P2Config, ctx: Context) -> Result:
    images = load_images(cfg.data, ctx.seed, cfg.max_train, cfg.max_test)
    x = images.x_test[: cfg.max_eval].to(ctx.device)
    y = images.y_test[: cfg.max_eval].to(ctx.device)
    families = _transforms(cfg, ctx.generator(17))
    cosine: dict[str, dict[str, list[float]]] = {f: {} for f in families}
    change: dict[str, dict[str, list[float]]] = {f: {} for f in families}
    acc: dict[str, dict[str, list[float]]] = {f: {} for f in families}
    for pool in ctx.track(cfg.variants, "P2 variants"):
        model = _train_cnn(pool, images, cfg, ctx.seed, ctx)
        features = model[:-1]
        for family, items in families.items():
            cos_row, chg_row, acc_row = [], [], []
            for _, fn in items:
                outs = fn(x)
                cos_row.append(
                    float(
                        torch.stack(
                            [representation_similarity(features, x, t).mean() for t in outs]
                        ).mean()
                    )
                )
                chg_row.append(float(np.mean([prediction_change(model, x, t) for t in outs])))
                acc_row.append(float(np.mean([accuracy(model, t, y) for t in outs])))
            cosine[family][pool], change[family][pool], acc[family][pool] = (
                cos_row,
                chg_row,
                acc_row,
            )
    magnitudes = {f: [m for m, _ in items] for f, items in families.items()}

    # verdict: a pooled variant is more invariant than no pooling for a family when its mean
    # cosine (over the non-identity magnitudes) is higher AND its mean prediction change lower
    def mean_off_identity(family: str, table: dict[str, dict[str, list[float]]], pool: str):
        ident = 1.0 if family == "rescaling" else 0.0
        vals = [
            v for m, v in zip(magnitudes[family], table[family][pool], strict=True) if m != ident
        ]
        return float(np.mean(vals))

    comparisons, wins, lines = 0, 0, []
    pooled = [p for p in ("max", "avg") if p in cfg.variants]
    if "none" in cfg.variants:
        for family in families:
            cos_none = mean_off_identity(family, cosine, "none")
            chg_none = mean_off_identity(family, change, "none")
            parts = []
            for p in pooled:
                cos_p = mean_off_identity(family, cosine, p)
                chg_p = mean_off_identity(family, change, p)
                comparisons += 2
                wins += int(cos_p > cos_none) + int(chg_p < chg_none)
                parts.append(f"{p} cos {cos_p:.3f}/changed {chg_p * 100:.0f}%")
            lines.append(
                f"{family}: none cos {cos_none:.3f}/changed {chg_none * 100:.0f}% vs "
                + ", ".join(parts)
            )
    if comparisons == 0:
        holds: bool | None = None
    elif wins == comparisons:
        holds = True
    elif wins < comparisons / 2:
        holds = False
    else:
        holds = None
    evidence = (
        f"Mean cosine similarity of the penultimate features and share of changed predictions "
        f"over the non-identity magnitudes, {len(x)} test images: "
        + "; ".join(lines)
        + f". Pooled beats unpooled in {wins}/{comparisons} comparisons (criterion: all → holds, "
        "fewer than half → does not hold, otherwise inconclusive)."
    )

    plt = _plt()
    fig, axes = plt.subplots(2, len(families), figsize=(4 * len(families), 7), squeeze=False)
    for col, family in enumerate(families):
        for pool in cfg.variants:
            style = {"color": _COLOURS.get(pool), "marker": "o", "label": pool}
            axes[0, col].plot(magnitudes[family], cosine[family][pool], **style)
            axes[1, col].plot(magnitudes[family], np.array(change[family][pool]) * 100, **style)
        axes[0, col].set_title(family)
        axes[1, col].set_xlabel(_AXIS[family])
    axes[0, 0].set_ylabel("cosine(f(x), f(Tx)), penultimate layer")
    axes[1, 0].set_ylabel("predictions changed (%)")
    axes[0, 0].legend(title="pooling")
    ctx.save_figure(
        fig,
        "invariance_curves",
        "Top: mean cosine similarity of the penultimate representation before and "
        "after the transform; bottom: share of test images whose predicted class "
        "changes. Higher top / lower bottom = more invariant.",
    )
    rows = []
    for family in families:
        for i, m in enumerate(magnitudes[family]):
            rows.append(
                [family, m]
                + [round(cosine[family][p][i], 4) for p in cfg.variants]
                + [round(change[family][p][i], 4) for p in cfg.variants]
            )
    table = Table(
        "Invariance per transform",
        ["transform", "magnitude"]
        + [f"cos {p}" for p in cfg.variants]
        + [f"changed {p}" for p in cfg.variants],
        rows,
    )
    return Result(
        metrics={
            "magnitudes": magnitudes,
            "cosine": cosine,
            "prediction_change": change,
            "accuracy": acc,
            "pooled_wins": wins,
            "comparisons": comparisons,
        },
        verdicts=[Verdict.from_check("P2", holds, evidence, key=f"{wins}/{comparisons} wins")],
        tables=[table],
        notes="A 2×2 maximum or mean does not change when its strongest input moves within the "
        "window, so pooled maps move less than the input does; without pooling every feature "
        "moves with the input. On 8×8 digits a 1-pixel shift is already 12 % of the width.",
    )


# -- P3 ------------------------------------------------------------------------------------------
@dataclass
class P3Config:
    variants: tuple[str, ...] = VARIANTS
    channels: tuple[int, ...] = (8, 8, 8, 8)
    kernel_size: int = 3
    image_size: int = 48
    n_samples: int = 8


@register(
    "p3_receptive_field",
    claims=("P3",),
    title="Pooling enlarges the receptive field of later units (analytic and gradient support)",
    config=P3Config,
    presets={
        "tiny": {"channels": (4, 4, 4), "image_size": 24, "n_samples": 4},
        "quick": {},
        "full": {"channels": (8, 8, 8, 8, 8), "image_size": 96, "n_samples": 16},
    },
)
def run_p3(cfg: P3Config, ctx: Context) -> Result:
    input_shape = (1, cfg.image_size, cfg.image_size)
    sizes: dict[str, list[int]] = {}
    jumps: dict[str, list[int]] = {}
    empirical: dict[str, list[int]] = {}
    mismatches: list[str] = []
    checked = 0
    gen = ctx.generator(3)
    for pool in ctx.track(cfg.variants, "P3 variants"):
        seed_everything(ctx.seed)
        model = cnn(
            1, 10, cfg.image_size, channels=cfg.channels, kernel_size=cfg.kernel_size, pool=pool
        )
        # one entry per block: the last spatial layer of block i (pool{i}, else act{i})
        layers = {r.name: r for r in receptive_field(model, input_shape)}
        blocks = []
        for i in range(1, len(cfg.channels) + 1):
            blocks.append(layers.get(f"pool{i}") or layers[f"act{i}"])
        sizes[pool] = [b.size[0] for b in blocks]
        jumps[pool] = [b.jump[0] for b in blocks]
        empirical[pool] = []
        for b in blocks:
            centre = tuple(n // 2 for n in b.output_size)
            support = gradient_support(
                model, input_shape, b.name, centre, n_samples=cfg.n_samples, generator=gen
            )
            analytic = b.box(centre, input_shape[1:])
            checked += 1
            empirical[pool].append(support[0][1] - support[0][0] + 1)
            if support != analytic:
                mismatches.append(f"{pool}/{b.name}: gradient {support} vs analytic {analytic}")
    depth = list(range(1, len(cfg.channels) + 1))
    last = {p: sizes[p][-1] for p in cfg.variants}
    pooled = [p for p in ("max", "avg") if p in cfg.variants]
    larger = "none" in last and bool(pooled) and all(last[p] > last["none"] for p in pooled)
    holds = larger and not mismatches
    evidence = (
        f"Receptive field after block {depth[-1]} ({cfg.kernel_size}×{cfg.kernel_size} "
        "convolutions): "
        + ", ".join(f"{p} {last[p]} px" for p in cfg.variants)
        + f"; per block, max pooling {sizes.get('max')} vs no pooling {sizes.get('none')}. "
        f"The analytic box equals the input-gradient support of the centre unit in "
        f"{checked - len(mismatches)}/{checked} layers. Criterion: pooled fields larger than "
        "unpooled after the last block and every analytic field confirmed by the gradient."
        + (" Mismatches: " + "; ".join(mismatches) if mismatches else "")
    )
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for p in cfg.variants:
        ax.plot(depth, sizes[p], "o-", color=_COLOURS.get(p), label=f"{p} (analytic)")
        ax.plot(depth, empirical[p], "x", color=_COLOURS.get(p), markersize=10)
    ax.set_xlabel("block (conv + activation + pooling)")
    ax.set_ylabel("receptive field (px, one axis)")
    ax.set_yscale("log", base=2)
    ax.set_xticks(depth)
    ax.set_title(f"Receptive-field growth, input {cfg.image_size}×{cfg.image_size}")
    ax.legend(fontsize=8, title="× = gradient support")
    ctx.save_figure(
        fig,
        "receptive_field_growth",
        "Receptive-field size per block: lines from the recurrence r ← r + (k−1)·j, "
        "crosses from the support of the centre unit's input gradient (clipped to "
        "the image).",
    )
    table = Table(
        "Receptive field per block (size / jump, px)",
        ["block", *cfg.variants],
        [
            [d] + [f"{sizes[p][i]} / {jumps[p][i]}" for p in cfg.variants]
            for i, d in enumerate(depth)
        ],
    )
    ratio = last.get("max", 0) / last["none"] if "none" in last else float("nan")
    return Result(
        metrics={
            "size": sizes,
            "jump": jumps,
            "empirical_extent": empirical,
            "mismatches": mismatches,
            "layers_checked": checked,
            "last_block_ratio_max_over_none": ratio,
        },
        verdicts=[
            Verdict.from_check(
                "P3", holds, evidence, key=f"{last.get('max')} vs {last.get('none')} px"
            )
        ],
        tables=[table],
        notes="Each layer adds (k − 1)·j pixels to the field, where the jump j is the product of "
        "the strides before it. Pooling (or a strided convolution) doubles j, so later "
        "convolutions grow the field geometrically instead of by k − 1 pixels per layer.",
    )
