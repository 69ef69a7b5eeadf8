"""Data sets: digits (embedded default), CIFAR-10/100 and ImageNet-style folders from local disk, synthetic.

Nothing here downloads. Every loader returns a :class:`DataSplit` whose ``train``/``test`` items are
``(image, label)`` pairs: ``image`` a float32 tensor ``[C, H, W]``, ``label`` a 0-dim int64 tensor.
Missing or malformed data raises :class:`DataError` naming the folder or file, the layout expected and
how to obtain it.

CIFAR batches are Python pickles. Unpickling can run arbitrary code, so they are read with
:class:`_CifarUnpickler`, which resolves only the three numpy globals a real batch refers to and refuses
every other global before anything is called.

Entry point::

    split = load_dataset("digits")                       # no files needed
    split = load_dataset("cifar10", "~/data/cifar-10-batches-py", subset=512)
    split = load_dataset("imagenet", "~/data/ILSVRC2012", image_size=224)
"""

from __future__ import annotations

import difflib
import io
import math
import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "DATASETS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "AugmentedTensorDataset",
    "DataError",
    "DataNotFoundError",
    "DataSplit",
    "ImageFolderDataset",
    "load_cifar",
    "load_dataset",
    "load_digits_split",
    "load_image_folder",
    "random_crop_flip",
    "read_cifar_batch",
    "synthetic_split",
    "write_fake_cifar",
    "write_fake_image_folder",
]

DATASETS: tuple[str, ...] = ("digits", "cifar10", "cifar100", "imagenet", "synthetic")

# Per-channel mean and standard deviation of the 50,000 training images (pixel / 255, population std),
# as computed from the training batches themselves (e.g. np.mean/np.std over axis (0, 2, 3)).
# The widely copied std (0.2023, 0.1994, 0.2010) (kuangliu/pytorch-cifar) is not the pixel std: it is
# about 20% too small, so it is deliberately not used here. The means agree with it.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
# ImageNet statistics used by every torchvision / timm pretrained model (torchvision documentation,
# "All pre-trained models expect input images normalized ... mean = [0.485, 0.456, 0.406] ...").
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

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

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

# What each CIFAR variant looks like on disk, as extracted from the official python tarballs.
_CIFAR_LAYOUT = {
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

_CIFAR_ROW = 3 * 32 * 32  # one image per row: 1024 red, then 1024 green, then 1024 blue, row-major


# -- errors -----------------------------------------------------------------------------------------
class DataError(ValueError):
    """Data missing, malformed or refused; the message names the folder/file and the layout expected."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data folder or file does not exist. Both a :class:`DataError` and a ``FileNotFoundError``."""


# -- the result type ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSplit:
    """A train/test pair and the facts a model needs to be built for it.

    ``train[i]`` / ``test[i]`` return ``(image, label)``: image float32 ``[in_channels, image_size,
    image_size]``, label a 0-dim int64 tensor in ``[0, num_classes)``. In-memory data sets are
    :class:`~torch.utils.data.TensorDataset` (``.tensors == (images, labels)``); ImageNet folders are a
    lazy :class:`ImageFolderDataset`. ``mean``/``std`` are the per-channel normalisation applied
    (``None`` when images are raw values in [0, 1]), so ``image * std + mean`` recovers [0, 1] pixels.
    """

    train: Dataset
    test: Dataset
    num_classes: int
    in_channels: int
    image_size: int
    name: str
    classes: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


# -- argument checks ----------------------------------------------------------------------------------
def _check_optional_positive_int(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


def _check_positive_int(name: str, value: object) -> int:
    checked = _check_optional_positive_int(name, value)
    if checked is None:
        raise ValueError(f"{name} must be a positive integer, got None")
    return checked


# -- augmentation (torch ops only, no torchvision) ------------------------------------------------------
def random_crop_flip(
    images: Tensor,
    padding: int = 4,
    flip: bool = True,
    fill: Sequence[float] | float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random crop after padding, then random horizontal flip, independently per image.

    ``images``: ``[B, C, H, W]`` or ``[C, H, W]`` float tensor. Each image is padded by ``padding`` on
    every side with ``fill`` (a scalar or one value per channel), a random ``H x W`` window of the padded
    image is kept, and with probability 1/2 (if ``flip``) it is mirrored left-right. This is
    torchvision's ``RandomCrop(H, padding) + RandomHorizontalFlip()``. Returns a new tensor of the same
    shape, dtype and device; the input is not modified. Randomness comes from ``generator`` (default:
    torch's global RNG, which DataLoader seeds per worker).
    """
    if images.dim() not in (3, 4):
        raise ValueError(f"images must be [C, H, W] or [B, C, H, W], got shape {tuple(images.shape)}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}")
    single = images.dim() == 3
    x = images.unsqueeze(0) if single else images
    b, c, h, w = x.shape
    fill_t = torch.as_tensor(fill, dtype=x.dtype, device=x.device).reshape(-1)
    if fill_t.numel() not in (1, c):
        raise ValueError(f"fill must be a scalar or have one value per channel ({c}), got {fill!r}")
    if padding:
        padded = fill_t.reshape(1, -1, 1, 1).expand(b, c, h + 2 * padding, w + 2 * padding).clone()
        padded[:, :, padding : padding + h, padding : padding + w] = x
        # Offsets are drawn on the CPU so a CPU generator works for GPU tensors too.
        top = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
        left = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
        rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(b, device=x.device)[:, None, None, None]
        chans = torch.arange(c, device=x.device)[None, :, None, None]
        out = padded[batch, chans, rows, cols]
    else:
        out = x.clone()
    if flip:
        mirror = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        out = torch.where(mirror[:, None, None, None], out.flip(-1), out)
    return out[0] if single else out


class AugmentedTensorDataset(TensorDataset):
    """A :class:`TensorDataset` ``(images [N, C, H, W], labels [N])`` that augments on access.

    ``self[i]`` returns ``(random_crop_flip(images[i], padding, flip, fill), labels[i])``: a fresh random
    view each time (same shape and dtype as the stored image). ``.tensors`` holds the un-augmented data.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        padding: int = 4,
        flip: bool = True,
        fill: Sequence[float] | float = 0.0,
    ) -> None:
        super().__init__(images, labels)
        self.padding = padding
        self.flip = flip
        self.fill = tuple(fill) if isinstance(fill, Sequence) else float(fill)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image, label = super().__getitem__(index)
        return random_crop_flip(image, self.padding, self.flip, self.fill), label


def _resize_images(images: Tensor, size: int) -> Tensor:
    """Bilinear resize of ``[N, C, H, W]`` to ``[N, C, size, size]`` (antialiased when shrinking)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    shrink = size < min(images.shape[-2:])
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def _tensor_split(
    name: str,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    num_classes: int,
    *,
    augment: bool,
    padding: int,
    flip: bool,
    fill: Sequence[float] | float,
    classes: tuple[str, ...],
    mean: tuple[float, ...] | None,
    std: tuple[float, ...] | None,
) -> DataSplit:
    train: TensorDataset
    if augment:
        train = AugmentedTensorDataset(x_train, y_train, padding=padding, flip=flip, fill=fill)
    else:
        train = TensorDataset(x_train, y_train)
    return DataSplit(
        train=train,
        test=TensorDataset(x_test, y_test),
        num_classes=num_classes,
        in_channels=int(x_train.shape[1]),
        image_size=int(x_train.shape[-1]),
        name=name,
        classes=classes,
        mean=mean,
        std=std,
    )


# -- digits -----------------------------------------------------------------------------------------------
def load_digits_split(
    seed: int = 0,
    test_fraction: float = 0.2,
    *,
    subset: int | None = None,
    image_size: int | None = None,
    augment: bool = False,
) -> DataSplit:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), shipped with scikit-learn.

    Returns a :class:`DataSplit` of two ``TensorDataset``: images float32 ``[N, 1, 8, 8]`` equal to
    pixel/16, so in [0, 1] (not mean/std normalised: ``mean``/``std`` are ``None``); labels int64 in
    [0, 9]. The split is stratified by class (``sklearn.model_selection.train_test_split`` with
    ``random_state=seed``): the same seed gives the same split. ``test_fraction`` of the images go to
    test (0.2 → 1,437 train / 360 test). ``subset`` keeps the first n of each split; ``image_size``
    other than 8 resizes bilinearly (values stay in [0, 1]). ``augment`` shifts training images by up to
    one pixel (random crop with padding 1, zero fill) and never flips: a mirrored digit is another symbol.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if isinstance(test_fraction, bool) or not isinstance(test_fraction, int | float) or not (0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}")
    subset = _check_optional_positive_int("subset", subset)
    image_size = _check_optional_positive_int("image_size", image_size)
    digits = load_digits()
    images = (digits.data.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in (x_tr, y_tr, x_te, y_te)]
    if subset is not None:
        tensors = [t[:subset] for t in tensors]
    x_train, y_train, x_test, y_test = tensors
    if image_size is not None:
        x_train = _resize_images(x_train, image_size).clamp_(0.0, 1.0)
        x_test = _resize_images(x_test, image_size).clamp_(0.0, 1.0)
    return _tensor_split(
        "digits",
        x_train,
        y_train,
        x_test,
        y_test,
        10,
        augment=augment,
        padding=1,
        flip=False,
        fill=0.0,
        classes=tuple(str(i) for i in range(10)),
        mean=None,
        std=None,
    )


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


def _safe_unpickle(path: Path) -> object:
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
    obj = _safe_unpickle(path)
    if not isinstance(obj, dict):
        raise DataError(f"{path} is not a CIFAR batch: expected a dict, found {type(obj).__name__}")
    batch = _bytes_keys(obj, path)
    missing = [k.decode() for k in (b"data", label_key) if k not in batch]
    if missing:
        found = sorted(k.decode("ascii", "replace") for k in batch)
        raise DataError(f"{path} is not a CIFAR batch: missing key(s) {missing}; found keys {found}")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or (data.shape[1] != _CIFAR_ROW):
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
    lay = _CIFAR_LAYOUT[kind]
    files = ", ".join((*lay["train"], *lay["test"]))
    return (
        f"expected the folder {lay['folder']}/ containing {files} (and optionally {lay['meta']}); "
        f"download {lay['tarball']} from {CIFAR_URL} and extract it into {where}"
    )


def _find_cifar_folder(kind: str, root: str | Path | None) -> Path:
    """The folder holding the batch files: ``root`` itself or ``root/<official folder name>``."""
    lay = _CIFAR_LAYOUT[kind]
    if root is None:
        raise DataNotFoundError(
            f"{kind} needs a data folder (root=None given); {_cifar_help(kind, 'a folder of your choice')} "
            "and pass that folder as root"
        )
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataNotFoundError(f"{kind} data folder {root} does not exist; {_cifar_help(kind, str(root))}")
    first = lay["train"][0]
    for candidate in (root, root / lay["folder"]):
        if (candidate / first).exists() or (candidate / lay["test"][0]).exists():
            return candidate
    raise DataNotFoundError(f"no {kind} batches in {root}; {_cifar_help(kind, str(root))}")


def _read_cifar_split(
    kind: str, folder: Path, files: Sequence[str], subset: int | None
) -> tuple[np.ndarray, np.ndarray]:
    lay = _CIFAR_LAYOUT[kind]
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
    lay = _CIFAR_LAYOUT[kind]
    n = lay["num_classes"]
    fallback = CIFAR10_CLASSES if kind == "cifar10" else tuple(str(i) for i in range(n))
    path = folder / lay["meta"]
    if not path.is_file():
        return fallback
    meta = _safe_unpickle(path)
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
    if kind not in _CIFAR_LAYOUT:
        raise ValueError(f"kind must be one of {tuple(_CIFAR_LAYOUT)}, got {kind!r}")
    subset = _check_optional_positive_int("subset", subset)
    image_size = _check_optional_positive_int("image_size", image_size)
    lay = _CIFAR_LAYOUT[kind]
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
        x_tr, x_te = _resize_images(x_tr, image_size), _resize_images(x_te, image_size)
    black = tuple(-m / s for m, s in zip(lay["mean"], lay["std"], strict=True))
    return _tensor_split(
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


# -- ImageNet-style folders ----------------------------------------------------------------------------------
_IMAGENET_HELP = (
    "expected ROOT/train/<class>/<image> and ROOT/val/<class>/<image> (images .jpg/.jpeg/.png/.bmp, one "
    "folder per class, the same class names in both): the ILSVRC2012 train/val tree with one folder per "
    "class, e.g. the val images sorted into class folders with the valprep.sh script"
)


def _is_image(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def _scan_split(split_dir: Path) -> dict[str, list[Path]]:
    """``{class name: sorted image paths}`` for one split folder, classes sorted by name."""
    if not split_dir.is_dir():
        raise DataNotFoundError(f"image folder split {split_dir} does not exist; {_IMAGENET_HELP}")
    if any(_is_image(p) for p in split_dir.iterdir()):
        raise DataError(
            f"{split_dir} holds images directly instead of one folder per class (the raw ILSVRC2012 val "
            f"archive is flat; sort it into class folders with valprep.sh); {_IMAGENET_HELP}"
        )
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{split_dir} has no class folders; {_IMAGENET_HELP}")
    found = {c: sorted(p for p in (split_dir / c).iterdir() if _is_image(p)) for c in classes}
    empty = [c for c, files in found.items() if not files]
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        raise DataError(f"{split_dir}: class folder(s) without images: {shown}; {_IMAGENET_HELP}")
    return found


def _interleave(by_class: dict[str, list[Path]], class_to_idx: dict[str, int]) -> list[tuple[str, int]]:
    # Round-robin over classes (1st image of each class, then the 2nd, ...) so that the first n samples,
    # as taken by `subset`, cover every class instead of only the alphabetically first ones.
    queues = [(class_to_idx[c], files) for c, files in by_class.items()]
    longest = max(len(files) for _, files in queues)
    return [(str(files[i]), idx) for i in range(longest) for idx, files in queues if i < len(files)]


class ImageFolderDataset(Dataset):
    """Lazy ImageNet-style data set: an image is read from disk only when it is indexed.

    ``self[i]`` returns ``(image, label)``: image float32 ``[3, image_size, image_size]``, the RGB file
    resized so its shorter side is ``resize`` (bilinear), center-cropped (or, with ``augment``, cropped
    at a random position and randomly mirrored), scaled to [0, 1] and normalised with ``mean``/``std``;
    label a 0-dim int64 tensor, ``class_to_idx[class folder]``. ``samples`` lists ``(path, label)``.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str, int]],
        classes: Sequence[str],
        image_size: int = 224,
        resize: int | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        augment: bool = False,
    ) -> None:
        self.samples = list(samples)
        self.classes = tuple(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.image_size = _check_positive_int("image_size", image_size)
        # 256 for 224 is the standard ImageNet evaluation ratio (crop 87.5% of the resized image).
        self.resize = _check_positive_int("resize", resize if resize is not None else round(image_size * 256 / 224))
        if self.resize < self.image_size:
            raise ValueError(f"resize ({self.resize}) must be at least image_size ({self.image_size})")
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.augment = bool(augment)

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, path: str | Path) -> Tensor:
        """The transformed image at ``path``: float32 ``[3, image_size, image_size]``, normalised."""
        from PIL import Image

        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                w, h = img.size
                # As torchvision's Resize(int): the shorter side becomes `resize`, the other keeps the
                # aspect ratio (truncated), so crops match published evaluation pipelines.
                new_w, new_h = (
                    (self.resize, int(self.resize * h / w)) if w <= h else (int(self.resize * w / h), self.resize)
                )
                if (new_w, new_h) != (w, h):
                    img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
                pixels = np.asarray(img, dtype=np.uint8)
        except OSError as exc:
            raise DataError(f"cannot read image {path}: {exc}") from exc
        s = self.image_size
        if self.augment:
            top = int(torch.randint(0, new_h - s + 1, (1,)))
            left = int(torch.randint(0, new_w - s + 1, (1,)))
        else:
            top, left = round((new_h - s) / 2), round((new_w - s) / 2)
        crop = np.ascontiguousarray(pixels[top : top + s, left : left + s])
        x = torch.from_numpy(crop).permute(2, 0, 1).to(torch.float32).div_(255.0)
        if self.augment and bool(torch.rand(()) < 0.5):
            x = x.flip(-1)
        m = torch.tensor(self.mean).reshape(3, 1, 1)
        sd = torch.tensor(self.std).reshape(3, 1, 1)
        return x.sub_(m).div_(sd)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        path, label = self.samples[index]
        return self.load_image(path), torch.tensor(label, dtype=torch.int64)


def load_image_folder(
    root: str | Path | None,
    *,
    image_size: int = 224,
    resize: int | None = None,
    subset: int | None = None,
    augment: bool = False,
    name: str = "imagenet",
) -> DataSplit:
    """An ImageNet-style tree ``root/train/<class>/*`` and ``root/val/<class>/*`` as lazy data sets.

    Classes are the train class folders sorted by name, label = position; val uses the same
    ``class_to_idx`` (a val class missing from train is a :class:`DataError`). Returns a
    :class:`DataSplit` of two :class:`ImageFolderDataset` (test = val) giving float32 ``[3, image_size,
    image_size]`` images normalised with :data:`IMAGENET_MEAN`/:data:`IMAGENET_STD`; ``resize`` defaults
    to ``round(image_size * 256 / 224)``. ``subset`` keeps the first n samples of each split in
    class-interleaved order; ``augment`` applies to train only.
    """
    image_size = _check_positive_int("image_size", image_size)
    subset = _check_optional_positive_int("subset", subset)
    if root is None:
        raise DataNotFoundError(f"{name} needs a data folder (root=None given); {_IMAGENET_HELP}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataNotFoundError(f"{name} data folder {root} does not exist; {_IMAGENET_HELP}")
    train_found = _scan_split(root / "train")
    val_found = _scan_split(root / "val")
    classes = tuple(train_found)
    class_to_idx = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(val_found) - set(class_to_idx))
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise DataError(
            f"{root / 'val'} has class folder(s) not present in {root / 'train'}: {shown}; labels would not "
            f"match. {_IMAGENET_HELP}"
        )
    samples = {"train": _interleave(train_found, class_to_idx), "val": _interleave(val_found, class_to_idx)}
    if subset is not None:
        samples = {k: v[:subset] for k, v in samples.items()}
    common = {"image_size": image_size, "resize": resize, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    train = ImageFolderDataset(samples["train"], classes, augment=augment, **common)
    test = ImageFolderDataset(samples["val"], classes, augment=False, **common)
    return DataSplit(
        train=train,
        test=test,
        num_classes=len(classes),
        in_channels=3,
        image_size=image_size,
        name=name,
        classes=classes,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )


# -- synthetic data -----------------------------------------------------------------------------------------
def synthetic_split(
    num_classes: int = 10,
    in_channels: int = 3,
    image_size: int = 8,
    n_train: int = 256,
    n_test: int = 128,
    seed: int = 0,
    *,
    noise: float = 0.5,
) -> DataSplit:
    """Random but learnable data: each class has its own mean image, samples add Gaussian noise.

    Returns a :class:`DataSplit` of ``TensorDataset``: images float32 ``[n, in_channels, image_size,
    image_size]`` = class prototype (entries ~ N(0, 1)) + ``noise`` * N(0, 1), unbounded; labels int64
    balanced over ``[0, num_classes)`` (``i % num_classes``, then shuffled). Train and test share the
    prototypes, so a linear classifier separates them well above chance. Same seed, same tensors.
    """
    num_classes = _check_positive_int("num_classes", num_classes)
    in_channels = _check_positive_int("in_channels", in_channels)
    image_size = _check_positive_int("image_size", image_size)
    n_train = _check_positive_int("n_train", n_train)
    n_test = _check_positive_int("n_test", n_test)
    if not (isinstance(noise, int | float) and math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    gen = torch.Generator().manual_seed(int(seed))
    shape = (in_channels, image_size, image_size)
    prototypes = torch.randn((num_classes, *shape), generator=gen)

    def draw(n: int) -> tuple[Tensor, Tensor]:
        labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]
        images = prototypes[labels] + noise * torch.randn((n, *shape), generator=gen)
        return images.contiguous(), labels.to(torch.int64)

    x_tr, y_tr = draw(n_train)
    x_te, y_te = draw(n_test)
    return _tensor_split(
        "synthetic",
        x_tr,
        y_tr,
        x_te,
        y_te,
        num_classes,
        augment=False,
        padding=0,
        flip=False,
        fill=0.0,
        classes=tuple(str(i) for i in range(num_classes)),
        mean=None,
        std=None,
    )


def _py2_pickle(obj: object) -> bytes:
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
    if kind not in _CIFAR_LAYOUT:
        raise ValueError(f"kind must be one of {tuple(_CIFAR_LAYOUT)}, got {kind!r}")
    n_train = _check_positive_int("n_train", n_train)
    n_test = _check_positive_int("n_test", n_test)
    lay = _CIFAR_LAYOUT[kind]
    if n_train < len(lay["train"]):
        raise ValueError(f"n_train must be at least {len(lay['train'])} for {kind}, got {n_train}")
    folder = Path(root) / lay["folder"]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_cls = lay["num_classes"]

    def batch(n: int, label: str, start: int) -> dict:
        data = rng.integers(0, 256, size=(n, _CIFAR_ROW), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, n_cls, size=n)]
        out = {b"batch_label": label.encode(), lay["label_key"]: labels, b"data": data}
        if kind == "cifar100":
            out[b"coarse_labels"] = [v // 5 for v in labels]
        out[b"filenames"] = [f"fake_{start + i:05d}.png".encode() for i in range(n)]
        return out

    chunks = np.array_split(np.arange(n_train), len(lay["train"]))
    for i, (fname, idx) in enumerate(zip(lay["train"], chunks, strict=True)):
        desc = f"training batch {i + 1} of {len(chunks)}"
        (folder / fname).write_bytes(_py2_pickle(batch(len(idx), desc, int(idx[0]))))
    (folder / lay["test"][0]).write_bytes(_py2_pickle(batch(n_test, "testing batch 1 of 1", n_train)))
    names = list(CIFAR10_CLASSES) if kind == "cifar10" else [f"class_{i:03d}" for i in range(n_cls)]
    meta: dict = {lay["names_key"]: [n.encode() for n in names]}
    if kind == "cifar10":
        meta.update({b"num_cases_per_batch": 10000, b"num_vis": _CIFAR_ROW})
    else:
        meta[b"coarse_label_names"] = [f"super_{i:02d}".encode() for i in range(20)]
    (folder / lay["meta"]).write_bytes(_py2_pickle(meta))
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
    per_class = _check_positive_int("per_class", per_class)
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


# -- entry point --------------------------------------------------------------------------------------------
def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    seed: int = 0,
    subset: int | None = None,
    image_size: int | None = None,
    augment: bool = False,
) -> DataSplit:
    """Load one of :data:`DATASETS` and return a :class:`DataSplit`.

    - ``"digits"``: :func:`load_digits_split` (root ignored; split decided by ``seed``), images in [0, 1].
    - ``"cifar10"`` / ``"cifar100"``: :func:`load_cifar` from ``root`` (required), normalised.
    - ``"imagenet"``: :func:`load_image_folder` from ``root`` (required), ``image_size`` default 224.
    - ``"synthetic"``: :func:`synthetic_split` with 10 classes, 3 channels, ``image_size`` default 8,
      256 train / 128 test images (root ignored, ``augment`` not supported).

    ``subset`` keeps the first n samples of each split; ``augment`` affects the training set only.
    Unknown names raise ``ValueError`` with a suggestion; missing data raises :class:`DataError`.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {DATASETS}, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in DATASETS:
        close = difflib.get_close_matches(key, DATASETS, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown data set {name!r}.{hint} Accepted names: {', '.join(DATASETS)}")
    subset = _check_optional_positive_int("subset", subset)
    image_size = _check_optional_positive_int("image_size", image_size)
    if key == "digits":
        return load_digits_split(seed=seed, subset=subset, image_size=image_size, augment=augment)
    if key in ("cifar10", "cifar100"):
        return load_cifar(root, key, subset=subset, augment=augment, image_size=image_size)
    if key == "imagenet":
        return load_image_folder(root, image_size=image_size or 224, subset=subset, augment=augment)
    if augment:
        raise ValueError("augment=True is not supported for 'synthetic' (flips would break its class means)")
    n_train, n_test = (256, 128) if subset is None else (min(256, subset), min(128, subset))
    return synthetic_split(10, 3, image_size or 8, n_train, n_test, seed)
