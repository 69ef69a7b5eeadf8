"""How a command stops when asked to (Ctrl-C, SIGTERM): as an exception, so that every ``finally``
runs (the run folder's lock released, forked helpers ended, finished units kept in the cache).

SIGTERM becomes :class:`Terminated` while a command runs (:func:`stop_on_sigterm`). Library code may
wrap either stop in an error of its own (Python wraps an exception raised during a class body's
``__set_name__``, e.g. inside a lazy ``import``, in a ``RuntimeError``): :func:`stop_in_chain` finds
it again, so that the command still stops with its one line instead of a traceback.
"""

from __future__ import annotations

import signal

__all__ = ["Terminated", "stop_in_chain", "stop_on_sigterm"]


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
