"""Score ``GradientMonitor.diagnose()`` on the labelled zoo of ``nndl.diagnostics.zoo``.

Every run of the zoo (MLP, CNN, residual CNN, vanilla RNN, LSTM, small transformer; vanishing,
exploding, dead ReLUs, saturation, healthy) is trained with plain SGD, batch 64, under a
``GradientMonitor(model)`` with its defaults, and diagnosed after 1, 5 and 50 steps, for each
seed. Prints:

- every run's labels per seed and step count (✓ right, ✗ wrong, with the kinds reported);
- a confusion table per finding kind (at ≥ 5 steps and at 1 step): runs that must report the
  kind and did (TP) or did not (FN); runs that must not and did (FP) or did not (TN); a kind
  that a run tolerates (a consequence of its problem) counts neither way;
- the targets of issue 14: every exploding run labelled exploding and never vanishing, ≥ 95 %
  of the labels right at ≥ 5 steps, no vanishing/exploding/saturation finding on any healthy
  net;
- when ``torchmortem`` is installed, its labels for the same runs (same weights, data order and
  steps) side by side (``--no-torchmortem`` skips it).

Usage::

    python benchmarks/gradient_zoo.py            # 3 seeds, steps 1, 5, 50 (about 2 minutes)
    python benchmarks/gradient_zoo.py --quick    # seed 0, no torchmortem (about 30 s)
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings
from collections import defaultdict

import torch
from rich.console import Console
from rich.table import Table

from nndl.diagnostics import FINDING_KINDS
from nndl.diagnostics.zoo import BATCH, ZOO, ZooCase, ZooRun, _loss, make_data, run_zoo_case

#: Short names of the finding kinds in the per-run table.
SHORT = {
    "vanishing": "van",
    "exploding": "exp",
    "saturation": "sat",
    "dead_units": "dead",
    "nonfinite": "nan",
}


def torchmortem_kinds(run: ZooRun, seed: int, steps: int) -> tuple[str, ...]:
    """torchmortem's findings (warning or critical) on the same run, mapped to nndl's kinds."""
    import logging

    from torchmortem import Autopsy

    logging.getLogger("torchmortem").setLevel(logging.ERROR)
    model = run.build(seed)
    x, y = make_data(run, seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=run.lr)
    autopsy = Autopsy(model, optimizer=opt)
    autopsy.attach()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            idx = torch.randint(0, x.shape[0], (BATCH,), generator=gen)
            opt.zero_grad(set_to_none=True)
            loss = _loss(run, model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            autopsy.step(loss=float(loss.detach()))
        autopsy.detach()
    report = autopsy.get_report()
    kinds: list[str] = []
    for finding in report.findings if report is not None else []:
        if finding.severity.name not in ("WARNING", "CRITICAL"):
            continue
        title = finding.title.lower()
        kind = None
        if finding.category == "gradient_flow" and "vanishing" in title:
            kind = "vanishing"
        elif (finding.category == "gradient_flow" and "exploding" in title) or (
            finding.category == "loss_dynamics" and "divergence" in title
        ):
            kind = "exploding"
        elif finding.category in ("dead_units", "saturation"):
            kind = finding.category
        if kind is not None and kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def _mark(run: ZooRun, kinds: tuple[str, ...]) -> str:
    return ("✓ " if run.right(kinds) else "✗ ") + (",".join(SHORT[k] for k in kinds) or "–")


def confusion(
    cases: list[tuple[ZooRun, tuple[str, ...]]],
) -> dict[str, dict[str, int]]:
    """Per finding kind: TP, FN, FP, TN over (run, reported kinds) pairs (tolerated: neither)."""
    table: dict[str, dict[str, int]] = {k: defaultdict(int) for k in FINDING_KINDS}
    for run, kinds in cases:
        for kind in FINDING_KINDS:
            found = kind in kinds
            if kind in run.expected:
                table[kind]["TP" if found else "FN"] += 1
            elif kind in run.tolerated:
                table[kind]["tolerated"] += 1
            else:
                table[kind]["FP" if found else "TN"] += 1
    return table


def _confusion_table(title: str, cases: list[tuple[ZooRun, tuple[str, ...]]]) -> Table:
    table = Table(title=title)
    for column in ("kind", "TP", "FN", "FP", "TN", "tolerated", "recall", "precision"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, c in confusion(cases).items():
        recall = c["TP"] / (c["TP"] + c["FN"]) if c["TP"] + c["FN"] else float("nan")
        precision = c["TP"] / (c["TP"] + c["FP"]) if c["TP"] + c["FP"] else float("nan")
        table.add_row(
            kind,
            *(str(c[k]) for k in ("TP", "FN", "FP", "TN", "tolerated")),
            f"{recall:.0%}" if recall == recall else "–",
            f"{precision:.0%}" if precision == precision else "–",
        )
    return table


def targets(results: list[ZooCase], steps: tuple[int, ...]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for the targets of issue 14."""
    late = [s for s in steps if s >= 5]
    judged = [(c, s) for c in results for s in late]
    right = sum(c.right(s) for c, s in judged)
    share = right / len(judged) if judged else float("nan")
    exploding = [(c, s) for c in results for s in steps if c.run.label == "exploding"]
    exploding_late = [(c, s) for c, s in exploding if s >= 5]
    labelled = sum("exploding" in c.kinds[s] for c, s in exploding_late)
    never_vanishing = sum("vanishing" not in c.kinds[s] for c, s in exploding)
    healthy = [(c, s) for c in results for s in steps if c.run.label == "healthy"]
    quiet = sum(not {"vanishing", "exploding", "saturation"} & set(c.kinds[s]) for c, s in healthy)
    first = [c for c in exploding if c[1] == steps[0]]
    early = [c.right(steps[0]) for c in results]
    return [
        (
            "labels right at ≥ 5 steps (all runs and seeds) ≥ 95 %",
            f"{right}/{len(judged)} = {share:.1%}",
            share >= 0.95,
        ),
        (
            f"labels right at {steps[0]} step(s) (for information)",
            f"{sum(early)}/{len(early)} = {sum(early) / len(early):.1%}",
            True,
        ),
        (
            "exploding runs labelled exploding at ≥ 5 steps",
            f"{labelled}/{len(exploding_late)}",
            labelled == len(exploding_late),
        ),
        (
            f"exploding runs labelled exploding at {steps[0]} step(s) (for information)",
            f"{sum('exploding' in c.kinds[s] for c, s in first)}/{len(first)}",
            True,
        ),
        (
            "exploding runs never labelled vanishing (all step counts)",
            f"{never_vanishing}/{len(exploding)}",
            never_vanishing == len(exploding),
        ),
        (
            "healthy runs without vanishing/exploding/saturation (all step counts)",
            f"{quiet}/{len(healthy)}",
            quiet == len(healthy),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 5, 50])
    parser.add_argument("--quick", action="store_true", help="seed 0 only, no torchmortem")
    parser.add_argument("--no-torchmortem", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="print every diagnosis")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [0] if args.quick else list(range(args.seeds))
    steps = tuple(sorted(set(args.steps)))
    with_tm = (
        not args.quick
        and not args.no_torchmortem
        and importlib.util.find_spec("torchmortem") is not None
    )
    console = Console(width=200)
    start = time.perf_counter()
    results: list[ZooCase] = []
    tm: dict[tuple[str, int, int], tuple[str, ...]] = {}
    table = Table(
        title=f"gradient zoo: {len(ZOO)} runs × {len(seeds)} seeds, steps {steps} "
        f"({', '.join(f'{v} = {k}' for k, v in SHORT.items())})"
    )
    table.add_column("label")
    table.add_column("arch")
    table.add_column("run")
    table.add_column("seed", justify="right")
    for s in steps:
        table.add_column(f"nndl @{s}")
    if with_tm:
        for s in steps:
            table.add_column(f"torchmortem @{s}")
    for run in ZOO:
        for seed in seeds:
            case = run_zoo_case(run, seed, steps)
            results.append(case)
            row = [run.label, run.arch, run.name, str(seed)]
            row += [_mark(run, case.kinds[s]) for s in steps]
            if with_tm:
                for s in steps:
                    tm[(run.name, seed, s)] = torchmortem_kinds(run, seed, s)
                    row.append(_mark(run, tm[(run.name, seed, s)]))
            table.add_row(*row)
            if args.verbose:
                for s in steps:
                    console.print(f"[{run.name} seed {seed} @{s}] {case.messages[s]}")
    console.print(table)
    late = [s for s in steps if s >= 5]
    cases = [(c.run, c.kinds[s]) for c in results for s in late]
    console.print(_confusion_table(f"nndl: confusion per finding kind at steps {late}", cases))
    early = [(c.run, c.kinds[steps[0]]) for c in results]
    console.print(_confusion_table(f"nndl: confusion at {steps[0]} step(s)", early))
    if with_tm:
        tm_cases = [(c.run, tm[(c.run.name, c.seed, s)]) for c in results for s in late]
        console.print(_confusion_table(f"torchmortem: confusion at steps {late}", tm_cases))
        tm_right = sum(run.right(kinds) for run, kinds in tm_cases)
        console.print(
            f"torchmortem labels right at ≥ 5 steps: {tm_right}/{len(tm_cases)} "
            f"= {tm_right / len(tm_cases):.1%}"
        )
    summary = Table(title="targets (issue 14), monitor defaults")
    summary.add_column("target")
    summary.add_column("measured", justify="right")
    summary.add_column("met")
    for name, measured, met in targets(results, steps):
        summary.add_row(name, measured, "yes" if met else "NO")
    console.print(summary)
    console.print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
