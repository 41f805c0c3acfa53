"""Many seeds side by side: S stacked copies against one seed and S seeds one by one.

The digits MLP of the G experiments (64-30-30-30-30-10, sigmoid, cross-entropy), SGD with
learning rate 0.1, batch 32, on ``load_digits_split()``'s 1,168 training images, one thread.
Three ways, all on the shared :class:`~nndl.train.Trainer`, timed in the same run:

* one seed: ``Trainer(model, SGD, supervised_loss())``;
* S sequential: the same, S times (seeds 0…S−1);
* S stacked: :func:`~nndl.train.fit_stacked` on ``StackedModels.from_factory(…, seeds)``, each
  copy with its own example order (``independent_batches=True``), with ``impl="auto"`` (grouped
  layers) and ``impl="vmap"`` (``vmap(functional_call)``, the reference).

Each is run ``--repeats`` times, in turn, after one warm-up epoch; the fastest CPU time
(``time.process_time``, one thread) of each is reported, the least disturbed by other work on
a shared machine, with the ratios to one seed: once for the training alone (models built
before the clock starts) and once with building (and stacking) the models. Target (issue 10):
S = 8 stacked trained in at most 2× one seed's time. The script also checks that the stacked
copies end where the same seeds trained alone on the same batches end (largest weight
difference).

Run: ``OMP_NUM_THREADS=1 python benchmarks/stacked.py`` (options ``--epochs``, ``--seeds``,
``--repeats``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn

from nndl.data import load_digits_split
from nndl.nn import mlp
from nndl.train import (
    StackedModels,
    Trainer,
    copy_orders,
    fit_stacked,
    stacked_accuracy,
    supervised_loss,
)

SIZES = [64, 30, 30, 30, 30, 10]
#: CPU time of this process: on one thread it is the wall time of an idle machine, and it does
#: not count the time other processes hold the core (this machine is shared).
CLOCK = time.process_time
LR = 0.1
BATCH = 32


def factory(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return mlp(SIZES, activation="sigmoid")


def one_seed(x: torch.Tensor, y: torch.Tensor, seed: int, epochs: int) -> nn.Module:
    """Build seed ``seed``'s model and train it alone on the Trainer."""
    model = factory(seed)
    train_one(model, x, y, seed, epochs)
    return model


def train_one(model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int, epochs: int) -> None:
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=LR),
        supervised_loss(),
        epochs=epochs,
        batch_size=BATCH,
        seed=seed,
        progress=False,
    )
    trainer.fit((x, y))


def stacked(
    x: torch.Tensor, y: torch.Tensor, seeds: list[int], epochs: int, impl: str
) -> StackedModels:
    """Build the seeds' models, stack them and train them side by side."""
    models = StackedModels.from_factory(factory, seeds, impl=impl)
    fit_stacked(models, x, y, lr=LR, epochs=epochs, batch_size=BATCH, seed=0)
    return models


def timed(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """The fastest of ``repeats`` wall times of each function, run in turn (round robin), so
    that a slow spell of a shared machine hits every method alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = CLOCK()
            fn()
            times[name].append(CLOCK() - start)
    return {name: min(values) for name, values in times.items()}


def max_gap_to_sequential(
    models: StackedModels, x: torch.Tensor, y: torch.Tensor, epochs: int
) -> float:
    """Train each seed alone on the batches its stacked copy saw; largest weight difference."""
    gap = 0.0
    for i, seed in enumerate(models.seeds):
        alone = factory(seed)
        opt = torch.optim.SGD(alone.parameters(), lr=LR)
        for epoch in range(epochs):
            order = copy_orders(x.shape[0], [seed], seed=0, epoch=epoch)[0]
            for start in range(0, x.shape[0], BATCH):
                idx = order[start : start + BATCH]
                opt.zero_grad()
                nn.functional.cross_entropy(alone(x[idx]), y[idx]).backward()
                opt.step()
        member = models.member(i)
        for a, b in zip(alone.parameters(), member.parameters(), strict=True):
            gap = max(gap, float((a.detach() - b.detach()).abs().max()))
    return gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    split = load_digits_split()
    x, y = split.x_train, split.y_train
    seeds = list(range(args.seeds))
    steps = args.epochs * -(-x.shape[0] // BATCH)
    print(
        f"digits MLP {'-'.join(map(str, SIZES))} sigmoid, SGD lr {LR}, batch {BATCH}, "
        f"{x.shape[0]} images, {args.epochs} epochs ({steps} steps), S = {args.seeds}, "
        f"{torch.get_num_threads()} thread, fastest CPU time of {args.repeats} (round robin)"
    )
    one_seed(x, y, 0, 1)  # warm-up
    stacked(x, y, seeds, 1, "auto")
    stacked(x, y, seeds, 1, "vmap")
    built: dict[str, list[nn.Module]] = {}

    def fresh(name: str) -> list[nn.Module]:  # models built before the clock starts
        return built.pop(name)

    def train_only(name: str) -> Callable[[], object]:
        def run() -> object:
            models = fresh(name)
            if name == "one":
                return train_one(models[0], x, y, 0, args.epochs)
            if name == "seq":
                return [
                    train_one(m, x, y, s, args.epochs) for m, s in zip(models, seeds, strict=True)
                ]
            return fit_stacked(models[0], x, y, lr=LR, epochs=args.epochs, batch_size=BATCH)

        return run

    def build_all() -> None:
        built["one"] = [factory(0)]
        built["seq"] = [factory(s) for s in seeds]
        built["auto"] = [StackedModels.from_factory(factory, seeds, impl="auto")]
        built["vmap"] = [StackedModels.from_factory(factory, seeds, impl="vmap")]

    train_times: dict[str, list[float]] = {k: [] for k in ("one", "seq", "auto", "vmap")}
    for _ in range(args.repeats):
        build_all()
        for name, values in timed({k: train_only(k) for k in train_times}, 1).items():
            train_times[name].append(values)
    t_train = {k: min(v) for k, v in train_times.items()}
    t_all = timed(
        {
            "one": lambda: one_seed(x, y, 0, args.epochs),
            "seq": lambda: [one_seed(x, y, s, args.epochs) for s in seeds],
            "auto": lambda: stacked(x, y, seeds, args.epochs, "auto"),
            "vmap": lambda: stacked(x, y, seeds, args.epochs, "vmap"),
        },
        args.repeats,
    )
    labels = {
        "one": "one seed (Trainer)",
        "seq": f"{args.seeds} sequential (Trainer)",
        "auto": f"{args.seeds} stacked, impl='auto' (grouped)",
        "vmap": f"{args.seeds} stacked, impl='vmap'",
    }
    print(
        f"{'method':40s} {'train s':>8s} {'ms/step':>8s} {'× one':>7s}   "
        f"{'build+train s':>13s} {'× one':>7s}"
    )
    for key, label in labels.items():
        tt, ta = t_train[key], t_all[key]
        print(
            f"{label:40s} {tt:8.3f} {1000 * tt / steps:8.3f} {tt / t_train['one']:7.2f}   "
            f"{ta:13.3f} {ta / t_all['one']:7.2f}"
        )
    ratio = t_train["auto"] / t_train["one"]
    verdict = "met" if ratio <= 2.0 else "MISSED"
    print(
        f"target: {args.seeds} stacked trained in ≤ 2× one seed's time: {ratio:.2f}× ({verdict}); "
        f"with building the models {t_all['auto'] / t_all['one']:.2f}×; stacked vs sequential "
        f"{t_train['seq'] / t_train['auto']:.2f}× faster"
    )
    models = stacked(x, y, seeds, args.epochs, "auto")
    gap = max_gap_to_sequential(models, x, y, args.epochs)
    acc = stacked_accuracy(models, split.x_test, split.y_test)
    print(
        f"largest weight difference, stacked vs the same seeds trained alone: {gap:.2e}; "
        f"test accuracy per seed after {args.epochs} epochs: "
        + ", ".join(f"{a:.3f}" for a in acc.tolist())
    )


if __name__ == "__main__":
    main()
