"""Fake data on disk for the tests: CIFAR folders in the exact official pickle format, image trees.

Test-only: nothing in the library imports this module.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analysis.data.cifar import CIFAR10_CLASSES, CIFAR_LAYOUT, CIFAR_ROW

__all__ = ["py2_pickle", "write_fake_cifar", "write_fake_image_folder"]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def py2_pickle(obj: object) -> bytes:
    """Serialise ``obj`` with the opcodes Python 2's cPickle (protocol 2) used for the real CIFAR files.

    Python 3's pickler cannot do this: under protocol 2 it writes ``bytes`` through a
    ``_codecs.encode`` global, which a real batch never contains. Supported: dict, list, tuple, bytes
    (Python 2 ``str``), int, bool, None and numeric numpy arrays/dtypes (numpy 1.x global names).
    """
    out = bytearray(b"\x80\x02")  # PROTO 2

    def emit(value: object) -> None:
        if value is None:
            out.extend(b"N")
        elif isinstance(value, bool):
            out.extend(b"\x88" if value else b"\x89")
        elif isinstance(value, int | np.integer):
            v = int(value)
            if 0 <= v < 256:
                out.extend(b"K" + bytes([v]))
            elif 0 <= v < 65536:
                out.extend(b"M" + struct.pack("<H", v))
            elif -(2**31) <= v < 2**31:
                out.extend(b"J" + struct.pack("<i", v))
            else:
                raise ValueError(f"integer {v} does not fit the 32-bit ints a CIFAR batch uses")
        elif isinstance(value, bytes):
            if len(value) < 256:
                out.extend(b"U" + bytes([len(value)]) + value)  # SHORT_BINSTRING
            else:
                out.extend(b"T" + struct.pack("<I", len(value)) + value)  # BINSTRING
        elif isinstance(value, list):
            out.extend(b"]")
            if value:
                out.extend(b"(")
                for item in value:
                    emit(item)
                out.extend(b"e")  # APPENDS
        elif isinstance(value, tuple):
            out.extend(b"(")
            for item in value:
                emit(item)
            out.extend(b"t")
        elif isinstance(value, dict):
            out.extend(b"}")
            if value:
                out.extend(b"(")
                for k, v in value.items():
                    emit(k)
                    emit(v)
                out.extend(b"u")  # SETITEMS
        elif isinstance(value, np.dtype):
            if value.hasobject or value.names is not None or value.subdtype is not None:
                raise ValueError(f"only simple numeric dtypes can be written, got {value}")
            descr = value.str  # e.g. '|u1', '<i8'
            out.extend(b"cnumpy\ndtype\n")
            emit((descr[1:].encode("ascii"), 0, 1))
            out.extend(b"R")
            emit((3, descr[0].encode("ascii"), None, None, None, -1, -1, 0))
            out.extend(b"b")  # BUILD: dtype.__setstate__
        elif isinstance(value, np.ndarray):
            arr = np.ascontiguousarray(value)
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\n")
            out.extend(b"(cnumpy\nndarray\n")
            emit((0,))
            emit(b"b")
            out.extend(b"tR")
            emit((1, tuple(int(n) for n in arr.shape), arr.dtype, False, arr.tobytes()))
            out.extend(b"b")  # BUILD: ndarray.__setstate__
        else:
            raise TypeError(f"cannot write {type(value).__name__} in a CIFAR-style pickle")

    emit(obj)
    out.extend(b".")
    return bytes(out)


def write_fake_cifar(
    root: str | Path, kind: str = "cifar10", n_train: int = 50, n_test: int = 20, seed: int = 0
) -> Path:
    """Write a small CIFAR folder in the exact on-disk format of the official python version.

    Creates ``root/cifar-10-batches-py/`` (``data_batch_1..5``, ``test_batch``, ``batches.meta``) or
    ``root/cifar-100-python/`` (``train``, ``test``, ``meta``). Each batch is a Python-2-style protocol-2
    pickle of a dict with bytes keys: ``b"data"`` uint8 ``[n, 3072]`` (random pixels), ``b"labels"`` (or
    ``b"fine_labels"`` and ``b"coarse_labels"``) a list of ints, ``b"filenames"`` and ``b"batch_label"``.
    CIFAR-10 training images are spread over the five batches (``n_train >= 5``). Returns the folder.
    """
    if kind not in CIFAR_LAYOUT:
        raise ValueError(f"kind must be one of {tuple(CIFAR_LAYOUT)}, got {kind!r}")
    n_train = _positive_int("n_train", n_train)
    n_test = _positive_int("n_test", n_test)
    lay = CIFAR_LAYOUT[kind]
    if n_train < len(lay["train"]):
        raise ValueError(f"n_train must be at least {len(lay['train'])} for {kind}, got {n_train}")
    folder = Path(root) / lay["folder"]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_cls = lay["num_classes"]

    def batch(n: int, label: str, start: int) -> dict:
        data = rng.integers(0, 256, size=(n, CIFAR_ROW), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, n_cls, size=n)]
        out = {b"batch_label": label.encode(), lay["label_key"]: labels, b"data": data}
        if kind == "cifar100":
            out[b"coarse_labels"] = [v // 5 for v in labels]
        out[b"filenames"] = [f"fake_{start + i:05d}.png".encode() for i in range(n)]
        return out

    chunks = np.array_split(np.arange(n_train), len(lay["train"]))
    for i, (fname, idx) in enumerate(zip(lay["train"], chunks, strict=True)):
        desc = f"training batch {i + 1} of {len(chunks)}"
        (folder / fname).write_bytes(py2_pickle(batch(len(idx), desc, int(idx[0]))))
    (folder / lay["test"][0]).write_bytes(py2_pickle(batch(n_test, "testing batch 1 of 1", n_train)))
    names = list(CIFAR10_CLASSES) if kind == "cifar10" else [f"class_{i:03d}" for i in range(n_cls)]
    meta: dict = {lay["names_key"]: [n.encode() for n in names]}
    if kind == "cifar10":
        meta.update({b"num_cases_per_batch": 10000, b"num_vis": CIFAR_ROW})
    else:
        meta[b"coarse_label_names"] = [f"super_{i:02d}".encode() for i in range(20)]
    (folder / lay["meta"]).write_bytes(py2_pickle(meta))
    return folder


def write_fake_image_folder(
    root: str | Path,
    classes: int | Sequence[str] = 3,
    per_class: int = 2,
    size: int | tuple[int, int] = (40, 32),
    seed: int = 0,
    *,
    splits: Sequence[str] = ("train", "val"),
) -> Path:
    """Write an ImageNet-style tree of small RGB PNGs: ``root/<split>/<class>/img_<k>.png``.

    ``classes`` is a count (names ``class_000``, ...) or the class names; ``size`` is ``(width, height)``
    or a square side. Class ``c`` images are a class-specific colour plus uniform noise (±20 levels), so
    classes are learnable. ``per_class`` images per class in every split of ``splits``. Returns ``root``.
    """
    from PIL import Image

    names = [f"class_{i:03d}" for i in range(classes)] if isinstance(classes, int) else list(classes)
    if not names:
        raise ValueError("classes must name at least one class")
    per_class = _positive_int("per_class", per_class)
    w, h = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    root = Path(root)
    for split in splits:
        for c, cname in enumerate(names):
            out_dir = root / split / cname
            out_dir.mkdir(parents=True, exist_ok=True)
            base = np.array([(53 * c) % 256, (97 * c + 60) % 256, (151 * c + 120) % 256], dtype=np.int16)
            for k in range(per_class):
                noise = rng.integers(-20, 21, size=(h, w, 3), dtype=np.int16)
                pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels, mode="RGB").save(out_dir / f"img_{k:03d}.png")
    return root

