"""Reading CIFAR's Python pickles without running code: a restricted unpickler.

Unpickling can run arbitrary code, so CIFAR batches are read with :class:`_CifarUnpickler`, which
resolves only the three numpy globals a real batch refers to and refuses every other global before
anything is called. :func:`_safe_unpickle` turns every failure into a :class:`DataError` naming the file.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from analysis.data.common import DataError

__all__ = ["safe_unpickle"]


# -- CIFAR: safe reading of the pickled batches ------------------------------------------------------------
class _RefusedGlobal(pickle.UnpicklingError):
    pass


class _NdarrayToken:
    """Stands for ``numpy.ndarray`` inside a pickle: usable only as _reconstruct's argument, not callable."""


_NDARRAY = _NdarrayToken()


def _safe_reconstruct(subtype: object, shape: object, dtype_code: object) -> np.ndarray:
    # numpy's array-unpickling entry point; only plain ndarrays may be built (no subclasses).
    if subtype is not _NDARRAY:
        raise _RefusedGlobal(f"array reconstruction of {subtype!r} refused (only numpy.ndarray allowed)")
    return _NP_RECONSTRUCT(np.ndarray, shape, dtype_code)


def _safe_dtype(spec: object, align: object = False, copy: object = False) -> np.dtype:
    # Object dtypes would let the pickle build arrays of arbitrary Python objects: refuse them.
    if not isinstance(spec, bytes | str):
        raise _RefusedGlobal(f"numpy.dtype({spec!r}) refused: only simple dtype codes are allowed")
    dtype = np.dtype(spec.decode("ascii") if isinstance(spec, bytes) else spec, bool(align), bool(copy))
    if dtype.hasobject:
        raise _RefusedGlobal(f"numpy.dtype({spec!r}) refused: object dtypes are not allowed")
    return dtype


# The reconstruct function, found without naming its module (numpy.core in 1.x, numpy._core in 2.x).
_NP_RECONSTRUCT = np.array(0).__reduce__()[0]

# Exactly the globals a real CIFAR batch refers to. The files were pickled by Python 2 with numpy 1.x,
# so the array constructor is spelled numpy.core.multiarray._reconstruct; numpy 2 spells it
# numpy._core.multiarray, accepted so that re-saved copies load too. Everything else is refused.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    # Not np.ndarray itself: a pickle could otherwise call np.ndarray(shape, "O") directly.
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _safe_dtype,
}


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that can build dicts, lists, bytes, ints and uint8-style numpy arrays, nothing else.

    ``find_class`` is the only path by which a pickle reaches a callable (GLOBAL, STACK_GLOBAL, INST,
    OBJ and EXT all go through it), so refusing there stops e.g. ``os.system`` before it is called.
    """

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _RefusedGlobal(
                f"refused to load global {module}.{name}: a CIFAR batch only needs "
                + ", ".join(f"{m}.{n}" for m, n in _ALLOWED_GLOBALS)
            ) from None

    def persistent_load(self, pid: object) -> object:
        raise _RefusedGlobal("persistent ids are not allowed in a CIFAR batch")


def safe_unpickle(path: Path) -> object:
    """Unpickle ``path`` with :class:`_CifarUnpickler`; any failure becomes a DataError naming the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read CIFAR batch {path}: {exc}") from exc
    try:
        # encoding="bytes": Python 2 str objects (the dict keys, the array buffers) come back as bytes,
        # which is what numpy needs to rebuild the arrays.
        return _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _RefusedGlobal as exc:
        raise DataError(f"{path} is not a CIFAR batch and was not loaded: {exc}") from exc
    except Exception as exc:  # truncated file, not a pickle, numpy rejecting the state, ...
        raise DataError(f"{path} is not a readable CIFAR batch ({type(exc).__name__}: {exc})") from exc

