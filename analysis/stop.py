"""How a command stops when asked to (Ctrl-C, SIGTERM): as an exception, so that every ``finally``
runs (the run folder's lock released, forked helpers ended, finished units kept in the cache).

SIGTERM becomes :class:`Terminated` while a command runs (:func:`stop_on_sigterm`). Library code may
wrap either stop in an error of its own (Python wraps an exception raised during a class body's
``__set_name__``, e.g. inside a lazy ``import``, in a ``RuntimeError``): :func:`stop_in_chain` finds
it again, so that the command still stops with its one line instead of a traceback.
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable
from typing import Any

__all__ = ["Terminated", "stop_code", "stop_in_chain", "stop_line", "stop_on_sigterm", "stoppable"]


class Terminated(BaseException):
    """Raised in the command by SIGTERM (a ``BaseException``, like ``KeyboardInterrupt``)."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated


def stop_on_sigterm():
    """Turn SIGTERM into :class:`Terminated` (the main thread only); returns the previous handler,
    or None where none could be set (then SIGTERM keeps its default)."""
    try:
        return signal.signal(signal.SIGTERM, _terminated)
    except ValueError:  # not the main thread (a command run from a worker thread)
        return None


def stop_in_chain(exc: BaseException) -> BaseException | None:
    """The :class:`Terminated` or ``KeyboardInterrupt`` that ``exc`` wraps (its causes and contexts),
    or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, Terminated | KeyboardInterrupt):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def stoppable(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` run with SIGTERM as :class:`Terminated` (the previous handler restored after), and a
    stop that library code wrapped in an error of its own raised as the stop it is."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        previous = stop_on_sigterm()
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            stop = stop_in_chain(exc)
            if stop is None:
                raise
            raise stop from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return run


def stop_line(stop: BaseException) -> str:
    """What a command stopped by ``stop`` (Ctrl-C or SIGTERM) prints after its name."""
    if isinstance(stop, Terminated):
        return "stopped by SIGTERM; the lock is released and finished work kept: rerun the same command to resume"
    return "interrupted; rerun the same command to resume"


def stop_code(stop: BaseException) -> int:
    """The exit status of a command stopped by ``stop``: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + (signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT)
