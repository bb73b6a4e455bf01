"""JSON-lines progress on stdout, per CONTRACT.md.

The pipeline owns stdout: `Progress.take_stdout()` moves file descriptor 1 to a private copy and
points fd 1 at stderr, so anything else that prints (transformers' PrinterCallback, tqdm.write,
C extensions) ends up in stderr.log instead of corrupting the JSON stream Charter parses.
"""
from __future__ import annotations

import json
import math
import os
import sys
import threading
from typing import Any, TextIO


def _clean(value: Any) -> Any:
    # JSON has no NaN/Infinity; a diverged loss is reported as null rather than breaking the line.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class Progress:
    def __init__(self, stream: TextIO | None = None, enabled: bool = True):
        self._stream = stream if stream is not None else sys.stdout
        self._enabled = enabled
        self._lock = threading.Lock()

    @classmethod
    def take_stdout(cls, enabled: bool = True) -> "Progress":
        sys.stdout.flush()
        private_fd = os.dup(1)
        os.dup2(2, 1)
        stream = os.fdopen(private_fd, "w", buffering=1, encoding="utf-8")
        return cls(stream, enabled)

    def emit(self, obj: dict[str, Any]) -> None:
        if not self._enabled:
            return
        line = json.dumps(_clean(obj), ensure_ascii=False, allow_nan=False)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def emit_from_signal_handler(self, obj: dict[str, Any]) -> None:
        """Best effort: the handler runs on the main thread, possibly in the middle of emit() with
        the lock held; waiting for it would deadlock, and writing anyway could split a line."""
        if not self._enabled or not self._lock.acquire(blocking=False):
            return
        try:
            self._stream.write(json.dumps(_clean(obj), ensure_ascii=False) + "\n")
            self._stream.flush()
        finally:
            self._lock.release()

    def progress(self, arm: str | None, stage: str, step: int, of: int) -> None:
        self.emit({"event": "progress", "arm": arm, "stage": stage, "step": int(step), "of": int(of)})

    def metric(self, arm: str | None, stage: str, name: str, step: int, value: float) -> None:
        self.emit({"event": "metric", "arm": arm, "stage": stage, "name": name, "step": int(step),
                   "value": float(value)})

    def log(self, message: str, **extra: Any) -> None:
        self.emit({"event": "log", "message": message, **extra})

    def done(self, results: str) -> None:
        self.emit({"event": "done", "results": results})


class StageCounter:
    """Counts work units of one stage and reports them as progress step/of."""

    def __init__(self, progress: Progress, arm: str | None, stage: str, total: int):
        self.progress, self.arm, self.stage = progress, arm, stage
        self.total = max(int(total), 1)
        self.done = 0
        self.progress.progress(arm, stage, 0, self.total)

    def advance(self, n: int = 1) -> None:
        self.done = min(self.done + n, self.total)
        self.progress.progress(self.arm, self.stage, self.done, self.total)

    def finish(self) -> None:
        if self.done < self.total:
            self.done = self.total
            self.progress.progress(self.arm, self.stage, self.done, self.total)
