"""CIFAR-10 / CIFAR-100 from the extracted official python batches (no download).

The batches are Python pickles, read through the restricted unpickler of
:mod:`analysis.data.safe_pickle`: no global other than numpy's array rebuilding is ever resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from analysis.data.common import (
    DataError,
    DataNotFoundError,
    DataSplit,
    resize_images,
    tensor_split,
)
from analysis.data.safe_pickle import safe_unpickle
from analysis.validate import check_choice, check_optional_positive_int

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "CIFAR_LAYOUT",
    "CIFAR_ROW",
    "load_cifar",
    "read_cifar_batch",
]

# Per-channel mean and standard deviation of the 50,000 training images (pixel / 255, population std),
# as computed from the training batches themselves (e.g. np.mean/np.std over axis (0, 2, 3)).
# The widely copied std (0.2023, 0.1994, 0.2010) (kuangliu/pytorch-cifar) is not the pixel std: it is
# about 20% too small, so it is deliberately not used here. The means agree with it.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

# What each CIFAR variant looks like on disk, as extracted from the official python tarballs.
CIFAR_LAYOUT = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "tarball": "cifar-10-python.tar.gz",
        "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test": ("test_batch",),
        "meta": "batches.meta",
        "label_key": b"labels",
        "names_key": b"label_names",
        "num_classes": 10,
        "mean": CIFAR10_MEAN,
        "std": CIFAR10_STD,
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "tarball": "cifar-100-python.tar.gz",
        "train": ("train",),
        "test": ("test",),
        "meta": "meta",
        "label_key": b"fine_labels",
        "names_key": b"fine_label_names",
        "num_classes": 100,
        "mean": CIFAR100_MEAN,
        "std": CIFAR100_STD,
    },
}

CIFAR_ROW = 3 * 32 * 32  # one image per row: 1024 red, then 1024 green, then 1024 blue, row-major


def _bytes_keys(obj: dict, path: Path) -> dict[bytes, object]:
    # Real batches have bytes keys (Python 2 str); str keys are accepted for copies re-saved by Python 3.
    out: dict[bytes, object] = {}
    for key, value in obj.items():
        if isinstance(key, str):
            key = key.encode("ascii", "replace")
        if not isinstance(key, bytes):
            raise DataError(f"{path} is not a CIFAR batch: unexpected key {key!r}")
        out[key] = value
    return out


def read_cifar_batch(
    path: str | Path, label_key: bytes = b"labels", num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR python batch file safely and check its structure.

    Returns ``(data, labels)``: ``data`` uint8 ``[N, 3072]`` exactly as stored (per row 1024 red, 1024
    green, 1024 blue values, each 32x32 row-major), ``labels`` int64 ``[N]`` in ``[0, num_classes)``.
    ``label_key`` is ``b"labels"`` for CIFAR-10 and ``b"fine_labels"`` for CIFAR-100. Raises
    :class:`DataError` naming the file when it is not a dict with those keys, the shapes/dtypes differ,
    a label is out of range, or the pickle refers to any global other than numpy's array rebuilding.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"CIFAR batch {path} does not exist")
    obj = safe_unpickle(path)
    if not isinstance(obj, dict):
        raise DataError(f"{path} is not a CIFAR batch: expected a dict, found {type(obj).__name__}")
    batch = _bytes_keys(obj, path)
    missing = [k.decode() for k in (b"data", label_key) if k not in batch]
    if missing:
        found = sorted(k.decode("ascii", "replace") for k in batch)
        raise DataError(f"{path} is not a CIFAR batch: missing key(s) {missing}; found keys {found}")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or (data.shape[1] != CIFAR_ROW):
        desc = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else repr(type(data))
        raise DataError(f"{path} is not a CIFAR batch: b'data' must be a uint8 array [N, 3072], found {desc}")
    raw_labels = batch[label_key]
    if not isinstance(raw_labels, list | np.ndarray) or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in raw_labels
    ):
        raise DataError(f"{path} is not a CIFAR batch: {label_key!r} must be a list of ints")
    labels = np.asarray(raw_labels, dtype=np.int64).reshape(-1)
    if labels.shape[0] != data.shape[0]:
        raise DataError(f"{path} is not a CIFAR batch: {data.shape[0]} images but {labels.shape[0]} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(
            f"{path}: labels must lie in [0, {num_classes}), found [{labels.min()}, {labels.max()}]"
            " (a CIFAR-100 folder loaded as CIFAR-10, or the reverse?)"
        )
    return np.ascontiguousarray(data), labels


def _cifar_help(kind: str, where: str) -> str:
    lay = CIFAR_LAYOUT[kind]
    files = ", ".join((*lay["train"], *lay["test"]))
    return (
        f"expected the folder {lay['folder']}/ containing {files} (and optionally {lay['meta']}); "
        f"download {lay['tarball']} from {CIFAR_URL} and extract it into {where}"
    )


def _find_cifar_folder(kind: str, root: str | Path | None) -> Path:
    """The folder holding the batch files: ``root`` itself or ``root/<official folder name>``."""
    if root is None:
        raise DataNotFoundError(
            f"{kind} needs a data folder (root=None given); {_cifar_help(kind, 'a folder of your choice')} "
            "and pass that folder as root"
        )
    root = Path(root).expanduser()
    if root.is_file():
        what = "the downloaded archive, not extracted?" if root.name.endswith((".tar.gz", ".tgz", ".tar")) else "a file"
        raise DataError(
            f"{kind} data folder {root} is a file ({what}); {_cifar_help(kind, str(root.parent))} and pass "
            "that folder as root"
        )
    if not root.is_dir():
        raise DataNotFoundError(f"{kind} data folder {root} does not exist; {_cifar_help(kind, str(root))}")
    found = _holds(kind, root)
    if found is not None:
        return found
    other = next((k for k in CIFAR_LAYOUT if k != kind and _holds(k, root) is not None), None)
    if other is not None:
        raise DataNotFoundError(
            f"no {kind} batches in {root}, but it holds {other} ({_holds(other, root)}); load it as {other!r}, "
            f"or {_cifar_help(kind, str(root))}"
        )
    raise DataNotFoundError(f"no {kind} batches in {root}; {_cifar_help(kind, str(root))}")


def _holds(kind: str, root: Path) -> Path | None:
    """``root`` or ``root/<official folder>`` if it holds a batch file of ``kind``, else None."""
    lay = CIFAR_LAYOUT[kind]
    for candidate in (root, root / lay["folder"]):
        if (candidate / lay["train"][0]).exists() or (candidate / lay["test"][0]).exists():
            return candidate
    return None


def _read_cifar_split(
    kind: str, folder: Path, files: Sequence[str], subset: int | None
) -> tuple[np.ndarray, np.ndarray]:
    lay = CIFAR_LAYOUT[kind]
    datas, labels, have = [], [], 0
    for name in files:
        data, lab = read_cifar_batch(folder / name, lay["label_key"], lay["num_classes"])
        datas.append(data)
        labels.append(lab)
        have += len(lab)
        if subset is not None and have >= subset:  # no need to read (and hold) the remaining batches
            break
    data_all, labels_all = np.concatenate(datas), np.concatenate(labels)
    if subset is not None:
        data_all, labels_all = data_all[:subset], labels_all[:subset]
    return data_all, labels_all


def _read_cifar_names(kind: str, folder: Path) -> tuple[str, ...]:
    lay = CIFAR_LAYOUT[kind]
    n = lay["num_classes"]
    fallback = CIFAR10_CLASSES if kind == "cifar10" else tuple(str(i) for i in range(n))
    path = folder / lay["meta"]
    if not path.is_file():
        return fallback
    meta = safe_unpickle(path)
    names = _bytes_keys(meta, path).get(lay["names_key"]) if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != n or not all(isinstance(v, bytes | str) for v in names):
        raise DataError(f"{path} is not a CIFAR meta file: expected {lay['names_key']!r} with {n} names")
    return tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in names)


def _cifar_to_tensor(data: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    x = torch.from_numpy(data).reshape(-1, 3, 32, 32).to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1)
    return x.sub_(m).div_(s)


def load_cifar(
    root: str | Path | None,
    kind: str = "cifar10",
    *,
    subset: int | None = None,
    augment: bool = False,
    image_size: int | None = None,
) -> DataSplit:
    """CIFAR-10 or CIFAR-100 from the extracted official python batches (no download).

    ``root`` is the ``cifar-10-batches-py`` / ``cifar-100-python`` folder or the folder containing it.
    Returns a :class:`DataSplit` with images float32 ``[N, 3, 32, 32]`` normalised per channel as
    ``(pixel / 255 - mean) / std`` with :data:`CIFAR10_MEAN`/:data:`CIFAR10_STD` (or the CIFAR-100
    ones), labels int64 (CIFAR-100: the 100 fine labels). Full size: 50,000 train / 10,000 test, in file
    order. ``subset`` keeps the first n images of each split (and reads only the batches needed).
    ``augment`` makes training items random crops with 4-pixel padding plus horizontal flips; the padding
    is black pixels (value ``-mean/std`` after normalisation), as torchvision's pipeline pads before
    normalising. ``image_size`` other than 32 resizes bilinearly. Malformed or unsafe files raise
    :class:`DataError` naming the file.
    """
    check_choice("kind", kind, CIFAR_LAYOUT)
    subset = check_optional_positive_int("subset", subset)
    image_size = check_optional_positive_int("image_size", image_size)
    lay = CIFAR_LAYOUT[kind]
    folder = _find_cifar_folder(kind, root)
    # Check all files exist before reading any, so one message lists everything missing.
    missing = [f for f in (*lay["train"], *lay["test"]) if not (folder / f).is_file()]
    if missing:
        raise DataNotFoundError(
            f"{kind} folder {folder} is missing {', '.join(missing)}; {_cifar_help(kind, str(folder.parent))}"
        )
    d_tr, y_tr = _read_cifar_split(kind, folder, lay["train"], subset)
    d_te, y_te = _read_cifar_split(kind, folder, lay["test"], subset)
    x_tr = _cifar_to_tensor(d_tr, lay["mean"], lay["std"])
    x_te = _cifar_to_tensor(d_te, lay["mean"], lay["std"])
    if image_size is not None:
        x_tr, x_te = resize_images(x_tr, image_size), resize_images(x_te, image_size)
    black = tuple(-m / s for m, s in zip(lay["mean"], lay["std"], strict=True))
    return tensor_split(
        kind,
        x_tr,
        torch.from_numpy(y_tr),
        x_te,
        torch.from_numpy(y_te),
        lay["num_classes"],
        augment=augment,
        padding=4,
        flip=True,
        fill=black,
        classes=_read_cifar_names(kind, folder),
        mean=lay["mean"],
        std=lay["std"],
    )

