"""Many experiment runs at once: base seeds × experiments, serially or in worker processes.

:func:`run_many` runs a list of :class:`Job` objects. With ``workers > 1`` each job runs in a
worker process (``spawn``) with its own thread budget (torch and the BLAS pools limited to
``threads``); every run seeds itself from its job, so results are identical to a serial run.
Jobs start longest first (by the duration of the last stored run), which keeps the workers
busy to the end.

Folder layout for several base seeds (:func:`seed_dir`): the first seed writes to ``OUT/<name>``
(the page's own results, shared with a plain one-seed report), every other seed to
``OUT/seeds/seed-<k>/<name>``.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._validation import ValidationError
from .result import Result
from .runner import load_result, run_experiment

__all__ = ["Job", "parse_seeds", "run_many", "seed_dir"]

_MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Job:
    """One experiment run: what :func:`~nndl.experiments.run_experiment` is called with."""

    name: str
    out: str
    scale: str = "quick"
    seed: int = 0
    device: str = "cpu"
    force: bool = False


def seed_dir(out: str | Path, seed: int, first_seed: int) -> Path:
    """Where the results of base ``seed`` go (see the module docstring)."""
    return Path(out) if seed == first_seed else Path(out) / "seeds" / f"seed-{seed}"


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → ``[0, 1, 2, 3, 4]``; ``"0,3,7"`` → ``[0, 3, 7]``; ranges and lists mix.

    Raises:
        ValidationError: malformed text, a seed outside ``[0, 2**32 - 1]``, or a repeated seed.
    """
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValidationError(
                f"--seeds must look like '0-4' or '0,1,2' (non-negative ints), got {text!r}"
            )
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if high < low or high > _MAX_SEED or high - low > 1000:
            raise ValidationError(
                f"--seeds range {part!r} must be increasing, within [0, 2**32 - 1] and at most "
                "1,001 seeds long"
            )
        seeds.extend(range(low, high + 1))
    if len(set(seeds)) != len(seeds):
        raise ValidationError(f"--seeds repeats a seed: {text!r}")
    return seeds


def _init_worker(threads: int) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    globals()["_LIMITS"] = threadpool_limits(threads)  # kept alive for the worker's lifetime


def _run(job: Job) -> Result:
    return run_experiment(
        job.name, scale=job.scale, seed=job.seed, device=job.device, out=job.out, force=job.force
    )


def _run_job(job: Job) -> dict[str, Any]:
    from .._progress import progress_session

    with progress_session(enabled=False):  # the parent process shows the progress
        result = _run(job)
    data = result.to_dict()
    data["cached"] = result.cached
    return data


def _from_worker(data: dict[str, Any]) -> Result:
    cached = bool(data.pop("cached", False))
    result = Result.from_dict(data)
    result.cached = cached
    return result


def _expected_duration(job: Job) -> float:
    previous = load_result(job.out, job.name)
    return previous.duration_s if previous is not None else 0.0


def run_many(
    jobs: Sequence[Job],
    *,
    workers: int = 1,
    threads: int = 1,
    on_done: Callable[[Job, Result], None] | None = None,
) -> list[Result]:
    """Run ``jobs`` (in ``workers`` processes when > 1); return results in the jobs' order.

    Args:
        jobs: the runs; their configs must already have been validated by the caller.
        workers: worker processes; 1 runs everything in this process.
        threads: torch/BLAS threads per worker process.
        on_done: called in this process as each job finishes (progress, printing).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError(f"jobs must be an int >= 1, got {workers!r}")
    results: dict[int, Result] = {}
    if workers == 1 or len(jobs) <= 1:
        for index, job in enumerate(jobs):
            results[index] = _run(job)
            if on_done is not None:
                on_done(job, results[index])
        return [results[i] for i in range(len(jobs))]

    order = sorted(range(len(jobs)), key=lambda i: -_expected_duration(jobs[i]))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(threads,),
    ) as pool:
        pending: dict[Future[dict[str, Any]], int] = {
            pool.submit(_run_job, jobs[i]): i for i in order
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                results[index] = _from_worker(future.result())
                if on_done is not None:
                    on_done(jobs[index], results[index])
    return [results[i] for i in range(len(jobs))]
