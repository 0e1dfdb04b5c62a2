"""Run a long algorithm in a worker thread and stream its progress to a generator.

The app's handlers are generators (Gradio streams what they yield); the algorithms report
through a callback. :func:`stream` bridges the two: it runs ``work(callback)`` in a thread,
yields the latest progress value at most every ``interval`` seconds, and stops the work
when the consumer goes away (the generator is closed, e.g. the user pressed Stop) or
``stop`` is set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Finished:
    """The last item :func:`stream` yields: the work's return value."""

    value: Any


@dataclass
class _Slot:
    latest: Any = None
    fresh: bool = False
    done: bool = False
    result: Any = None
    error: BaseException | None = None
    cond: threading.Condition = field(default_factory=threading.Condition)


def stream(
    work: Callable[[Callable[[Any], bool]], Any],
    *,
    interval: float = 0.5,
    stop: threading.Event | None = None,
) -> Iterator[Any]:
    """Yield progress values from ``work(callback)``, then :class:`Finished` with its result.

    ``work`` must call ``callback(progress)`` regularly and stop early when it returns True.
    Progress values that arrive faster than ``interval`` are dropped except the latest.
    An exception raised by ``work`` is re-raised here.
    """
    stop = stop or threading.Event()
    slot = _Slot()

    def callback(progress: Any) -> bool:
        with slot.cond:
            slot.latest, slot.fresh = progress, True
            slot.cond.notify()
        return stop.is_set()

    def run() -> None:
        try:
            slot.result = work(callback)
        except BaseException as exc:  # handed to the consumer thread
            slot.error = exc
        with slot.cond:
            slot.done = True
            slot.cond.notify()

    worker = threading.Thread(target=run, name="stylegan-lib-job", daemon=True)
    worker.start()
    last = 0.0
    try:
        while True:
            with slot.cond:
                slot.cond.wait_for(lambda: slot.done or slot.fresh, timeout=interval)
                if slot.done:
                    break
                wait = interval - (time.monotonic() - last)
            if wait > 0:
                time.sleep(wait)  # throttle: keep only the latest value
            with slot.cond:
                value, fresh, slot.fresh = slot.latest, slot.fresh, False
            if fresh:
                last = time.monotonic()
                yield value
    finally:
        stop.set()  # consumer gone or work done: make sure the worker winds down
    worker.join()
    if slot.error is not None:
        raise slot.error
    yield Finished(slot.result)
