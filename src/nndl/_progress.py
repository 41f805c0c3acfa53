"""Progress bars for slow loops, shared by the trainer, the experiments and the CLI.

The CLI opens one :class:`rich.progress.Progress` for a whole command with :func:`progress_session`;
every loop that calls :func:`track` inside it adds a task to that display (so the experiment
sequence and each training loop show as nested bars) and removes it when done. Outside a session,
``track`` shows a transient bar of its own only when ``show=True`` (or stderr is a terminal and
``show`` is None), so library users and tests get no output unless they ask for it.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["ProgressTask", "make_progress", "progress_session", "task", "track"]

T = TypeVar("T")
_current: contextvars.ContextVar[Progress | None] = contextvars.ContextVar(
    "nndl_progress", default=None
)
# inside ``progress_session(enabled=False)`` (``--quiet``, worker processes) no bar is shown
_disabled: contextvars.ContextVar[bool] = contextvars.ContextVar("nndl_progress_off", default=False)


def make_progress(console: Console | None = None, transient: bool = False) -> Progress:
    """The nndl progress display: description, bar, n/total, elapsed and remaining time."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console or Console(stderr=True),
        transient=transient,
    )


@contextlib.contextmanager
def progress_session(enabled: bool = True, console: Console | None = None) -> Iterator[None]:
    """Route every :func:`track`/:func:`task` inside the ``with`` block to one live display."""
    if not enabled:
        token = _current.set(None)
        off = _disabled.set(True)
        try:
            yield
        finally:
            _disabled.reset(off)
            _current.reset(token)
        return
    progress = make_progress(console)
    token = _current.set(progress)
    try:
        with progress:
            yield
    finally:
        _current.reset(token)


class ProgressTask:
    """A handle on one bar: ``advance(n)`` and ``status(text)``; a no-op without a display."""

    def __init__(self, progress: Progress | None, task_id: TaskID | None):
        self._progress = progress
        self._task_id = task_id

    def advance(self, n: float = 1) -> None:
        if self._progress is not None and self._task_id is not None:
            self._progress.advance(self._task_id, n)

    def status(self, text: str) -> None:
        if self._progress is not None and self._task_id is not None:
            self._progress.update(self._task_id, status=text)


@contextlib.contextmanager
def task(description: str, total: float | None, show: bool | None = None) -> Iterator[ProgressTask]:
    """A bar with ``total`` steps, advanced by hand; removed from the session display on exit.

    ``show=False`` means no bar at all (e.g. on every rank but 0 under DDP), ``True`` a bar even
    outside a session, ``None`` the session's display or, outside one, a bar on a terminal only
    (none inside a disabled session).
    """
    if show is None and _disabled.get():
        show = False
    progress = _current.get() if show is not False else None
    own = False
    if progress is None and show is not False:
        if show is None:
            show = sys.stderr.isatty()
        if show:
            progress = make_progress(transient=True)
            progress.start()
            own = True
    task_id = progress.add_task(description, total=total, status="") if progress else None
    try:
        yield ProgressTask(progress, task_id)
    finally:
        if progress is not None and task_id is not None:
            if own:
                progress.stop()
            else:
                progress.remove_task(task_id)


def track(
    iterable: Iterable[T], description: str, total: float | None = None, show: bool | None = None
) -> Iterator[T]:
    """Iterate over ``iterable`` with a bar (see module docstring for when it shows)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with task(description, total, show=show) as bar:
        for item in iterable:
            yield item
            bar.advance()
