"""The ``nndl`` command: list, run and report experiments, plus the areas' own commands.

This module only parses arguments and dispatches; the work is done by :mod:`nndl.experiments`,
:mod:`nndl.report` and the library. Area modules (``nndl/cli/<area>.py``) add their commands
through ``register(commands, train)`` (see ``_AREA_MODULES``).

Exit status: 0 on success, 1 when an experiment failed (crashed, not "did not hold"), 2 for bad
input (unknown experiment, bad ``--set``, unwritable folder, …).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from .._validation import NNDLError

__all__ = ["SEED_MAX", "build_parser", "main", "seed_type"]

#: The largest seed every random generator nndl seeds accepts (NumPy's limit).
SEED_MAX = 2**32 - 1

_AREA_MODULES = ("generative", "flow")
_VERDICT_STYLE = {"holds": "green", "does not hold": "red", "inconclusive": "yellow"}


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def seed_type(text: str) -> int:
    """argparse type of every ``--seed``: an integer in 0 … 2³² − 1 (else exit status 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects an integer, got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be in 0 … {SEED_MAX} (2**32 - 1), got {value}")
    return value


def _parse_sets(items: Sequence[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise NNDLError(f"--set expects key=value, got {item!r}")
        overrides[key.strip()] = value
    return overrides


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ..experiments import list_experiments

    exps = list_experiments(*args.patterns)
    if args.patterns and not exps:
        raise NNDLError(f"no experiment matches {' '.join(args.patterns)}")
    table = Table(title="nndl experiments", show_lines=False)
    table.add_column("name", style="bold")
    table.add_column("claims")
    table.add_column("what it shows")
    for exp in exps:
        table.add_row(exp.name, ", ".join(exp.claims), exp.title)
    _console().print(table)
    return 0


def _print_result(console: Console, result: Any) -> None:
    from rich.table import Table

    if result.status == "failed":
        console.print(f"[red]{result.name} failed[/red]: {result.error}")
        console.print(result.traceback)
        return
    metrics = Table(title=f"{result.name} — numbers", show_header=True)
    metrics.add_column("metric")
    metrics.add_column("value")
    for key, value in result.metrics.items():
        if isinstance(value, float):
            text = f"{value:.6g}"
        else:
            text = str(value)
            if len(text) > 120:
                text = text[:117] + "…"
        metrics.add_row(key, text)
    console.print(metrics)
    for table in result.tables:
        rich_table = Table(title=table.title)
        for column in table.columns:
            rich_table.add_column(str(column))
        for row in table.rows:
            rich_table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
        console.print(rich_table)
    for verdict in result.verdicts:
        style = _VERDICT_STYLE.get(verdict.status, "")
        console.print(
            f"[bold]{verdict.claim}[/bold] [{style}]{verdict.status}[/{style}]: {verdict.evidence}"
        )
        if verdict.reason:
            console.print(f"  why inconclusive: {verdict.reason}", markup=False)
        if verdict.rule:
            console.print(f"  rule: {verdict.rule}", style="dim", markup=False)


def _cmd_run(args: argparse.Namespace) -> int:
    from ..experiments import get_experiment, run_experiment

    exp = get_experiment(args.name)
    overrides = _parse_sets(args.set)
    exp.config(args.scale, overrides)  # validate before any work
    console = _console()
    from .._progress import task

    with task(f"{exp.name} ({args.scale})", None):
        result = run_experiment(
            exp,
            scale=args.scale,
            seed=args.seed,
            device=args.device,
            out=args.out,
            overrides=overrides,
        )
    _print_result(console, result)
    console.print(
        f"{exp.name}: {result.duration_s:.1f} s → {Path(args.out) / exp.name / 'result.json'}"
    )
    return 0 if result.status == "ok" else 1


def _cmd_report(args: argparse.Namespace) -> int:
    from .._io import ensure_dir
    from .._progress import task
    from ..experiments import get_experiment, list_experiments, redraw_experiment
    from ..experiments.batch import Job, parse_seeds, run_many, seed_dir
    from ..report import build_report, collect_results, load_report, stability_rows
    from ..train import resolve_device

    exps = [get_experiment(n) for n in args.only] if args.only else list_experiments()
    if args.jobs < 1:
        raise NNDLError(f"--jobs must be >= 1, got {args.jobs}")
    seeds = parse_seeds(args.seeds) if args.seeds else [args.seed]
    full = load_report(args.full_report)[0] if args.full_report else None
    for exp in exps:
        exp.config(args.scale)  # every config checked before any work
    resolve_device(args.device)
    out = ensure_dir(args.out, name="output folder")
    if args.redraw and not args.seeds and (out / "results.json").exists():
        seeds = [int(s) for s in load_report(out)[1].get("seeds", seeds)]
    console = _console()
    start = time.perf_counter()
    failed: list[str] = []
    folders = {seed: seed_dir(out, seed, seeds[0]) for seed in seeds}
    if args.redraw:
        for seed, folder in folders.items():
            for exp in exps:
                if redraw_experiment(exp, folder) is None:
                    console.print(f"{exp.name:<32} seed {seed}: no stored result to redraw")
    else:
        jobs = [
            Job(exp.name, str(folders[seed]), args.scale, seed, args.device, args.force)
            for seed in seeds
            for exp in exps
        ]
        with task(f"report ({args.scale}, {len(seeds)} seed(s))", len(jobs)) as bar:

            def done(job: Job, result: Any) -> None:
                state = "cached" if result.cached else f"{result.duration_s:6.1f} s"
                verdicts = ", ".join(f"{v.claim} {v.status}" for v in result.verdicts)
                status = verdicts if result.status == "ok" else f"[red]FAILED[/red] {result.error}"
                console.print(f"{job.name:<32} seed {job.seed:<3} {state:>9}  {status}")
                if result.status == "failed":
                    failed.append(f"{job.name} (seed {job.seed})")
                bar.advance()

            run_many(jobs, workers=args.jobs, threads=args.threads, on_done=done)
    names = [exp.name for exp in exps]
    per_seed = {seed: collect_results(folder, names) for seed, folder in folders.items()}
    stability = stability_rows(per_seed, full) if len(seeds) > 1 or full is not None else None
    extra = {"scale": args.scale, "seeds": seeds, "full_report": args.full_report}
    index = build_report(out, per_seed[seeds[0]], stability=stability, extra=extra)
    console.print(f"total {time.perf_counter() - start:.1f} s; {len(failed)} failed")
    console.print(f"report: {index.resolve()}")
    return 1 if failed else 0


def build_parser() -> tuple[argparse.ArgumentParser, Any, Any]:
    """The argument parser, its command sub-parsers and the ``train`` sub-parsers."""
    from ..experiments import SCALES

    parser = argparse.ArgumentParser(
        prog="nndl",
        description="Deep-learning fundamentals: run the experiments behind each claim of the "
        "notes and build the report.",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("list", help="list the experiments and the claims they cover")
    p.add_argument("patterns", nargs="*", help="fnmatch patterns on names or claim IDs (g*, V3)")
    p.set_defaults(handler=_cmd_list)

    p = commands.add_parser("run", help="run one experiment and print its numbers and verdicts")
    p.add_argument("name", help="experiment name (see `nndl list`)")
    p.add_argument("--scale", choices=SCALES, default="quick")
    p.add_argument("--seed", type=seed_type, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", default="results", help="results folder (default ./results)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    p.set_defaults(handler=_cmd_run)

    p = commands.add_parser(
        "report", help="run the experiments (cached when unchanged) and write OUT/index.html"
    )
    p.add_argument("--scale", choices=SCALES, default="quick")
    p.add_argument("--seed", type=seed_type, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", default="report", help="report folder (default ./report)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these experiments")
    p.add_argument("--force", action="store_true", help="re-run even when a cached result fits")
    p.add_argument(
        "--seeds",
        metavar="LIST",
        help="several base seeds, e.g. 0-4 or 0,2,5: adds a stability table (verdict per seed)",
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="worker processes (each with --threads threads)"
    )
    p.add_argument(
        "--redraw",
        action="store_true",
        help="rebuild verdicts, figures and the page from stored metrics, without training",
    )
    p.add_argument(
        "--full-report",
        metavar="DIR",
        help="a full-scale report folder whose verdicts join the stability table",
    )
    p.set_defaults(handler=_cmd_report)

    train = commands.add_parser("train", help="train a model (see `nndl train --help`)")
    train_kinds = train.add_subparsers(dest="kind", metavar="KIND", required=True)

    for area in _AREA_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{area}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{area}":
                raise
            continue
        module.register(commands, train_kinds)
    return parser, commands, train_kinds


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nndl`` command; returns the exit status."""
    import torch

    from .._progress import progress_session

    parser, _, _ = build_parser()
    args = parser.parse_args(argv)
    seed = getattr(args, "seed", None)
    if isinstance(seed, int) and not 0 <= seed <= SEED_MAX:  # an area module's plain int --seed
        parser.error(f"argument --seed: must be in 0 … {SEED_MAX} (2**32 - 1), got {seed}")
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if args.threads < 1:
        err.print(f"nndl: error: --threads must be >= 1, got {args.threads}")
        return 2
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    try:
        # BLAS pools too (NumPy/SciPy/scikit-learn): small solves are far slower on 2 threads
        with threadpool_limits(args.threads), progress_session(enabled=not args.quiet):
            return int(args.handler(args))
    except NNDLError as exc:
        err.print(f"nndl: error: {exc}", markup=False)
        return 2
    except KeyboardInterrupt:
        err.print("nndl: interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
