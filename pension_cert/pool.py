"""The face process pool: CPU-heavy work off the event loop, with a bounded queue.

cores - 1 worker processes (at least one), each with one BLAS thread, started with
``spawn`` (forking a process that runs Tornado and PyMongo threads is unsafe). At
most ``workers + queue`` checks are in flight; one more is refused at once with
"busy, retry in a few seconds" instead of waiting without bound.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from pension_cert.check_model import FacePoolBusy

T = TypeVar("T")
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _warm_up() -> None:
    # Load the models once per worker, not on the first person's check.
    import face_recognition  # noqa: F401


def default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


class FacePool:
    def __init__(self, workers: int | None = None, queue: int = 4) -> None:
        self.workers = workers or default_workers()
        self.capacity = self.workers + max(0, queue)
        self.in_flight = 0
        for name, value in _ONE_THREAD.items():
            os.environ.setdefault(name, value)  # inherited by the spawned workers
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_warm_up,
        )

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        if self.in_flight >= self.capacity:
            raise FacePoolBusy()
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function,
                                                                    *args)
        finally:
            self.in_flight -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
