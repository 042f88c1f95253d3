"""Progress bars for long runs, on a terminal only (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress, TaskID

# Below this many steps a bar only flickers; stay quiet.
MIN_STEPS_FOR_BAR = 50


class RichProgress:
    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if total < MIN_STEPS_FOR_BAR:
            return
        if self._progress is None:
            # On stderr, so the summary on stdout stays clean for scripts.
            self._progress = Progress(transient=True, console=Console(stderr=True))
            self._progress.start()
        if phase not in self._tasks:
            self._tasks[phase] = self._progress.add_task(phase, total=total)
        self._progress.update(self._tasks[phase], completed=done)
        if all(t.finished for t in self._progress.tasks):
            self._progress.stop()
            self._progress = None
            self._tasks.clear()
