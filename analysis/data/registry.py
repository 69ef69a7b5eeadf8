"""The registry of data sets: a name -> a loader returning a :class:`DataSplit`.

Built in: ``digits`` (no files), ``cifar10``/``cifar100`` and ``imagenet`` (from a local folder),
``synthetic`` (no files), and the event data ``moving_digits_digit`` / ``moving_digits_direction``
(digits moving across a frame as ON/OFF events, labelled by digit or by direction; no files) and
``nmnist`` (N-MNIST's recordings from a local folder, read with ``tonic``). Add one with
:func:`register_dataset`; a name already taken is refused unless ``replace=True`` (as every
registry of the project). Names are matched ignoring case, ``-``
and ``_`` (``"CIFAR-10"`` is ``"cifar10"``), so two names that differ only in those collide.

A loader is called as ``loader(root, seed=..., subset=..., image_size=..., augment=...)`` with
``subset``/``image_size`` already checked (a positive int or ``None``) and must return a
:class:`DataSplit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, overload

from analysis.data.cifar import load_cifar
from analysis.data.common import DataSplit
from analysis.data.digits import load_digits_split
from analysis.data.events import FRAMES, load_moving_digits
from analysis.data.folders import load_image_folder
from analysis.data.nmnist import load_nmnist
from analysis.data.synthetic import synthetic_split
from analysis.registry import Registry
from analysis.validate import check_optional_positive_int

__all__ = ["DATASETS", "LOADERS", "DatasetLoader", "available_datasets", "load_dataset", "register_dataset"]


class DatasetLoader(Protocol):
    def __call__(
        self, root: str | Path | None, *, seed: int, subset: int | None, image_size: int | None, augment: bool
    ) -> DataSplit: ...


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


#: Data set loaders by name (compared ignoring case, ``-`` and ``_``); registration order is the
#: listing order.
LOADERS: Registry[Callable[..., DataSplit]] = Registry("data set", normalize=_key)


def register_dataset(name: str, loader: Callable[..., DataSplit], replace: bool = False) -> None:
    """Make ``load_dataset(name, ...)`` call ``loader`` (see the module docstring for its signature).

    Raises ``ValueError`` when ``name`` (compared ignoring case, ``-`` and ``_``) is already registered
    and ``replace`` is false, ``TypeError`` when ``loader`` is not callable.
    """
    if not callable(loader):
        raise TypeError(f"loader for data set {name!r} must be callable, got {type(loader).__name__}")
    LOADERS.add(name.strip() if isinstance(name, str) else name, loader, replace=replace)


def available_datasets() -> tuple[str, ...]:
    """The registered data set names, in registration order (built-ins first)."""
    return tuple(LOADERS.names())


class _DatasetNames(Sequence[str]):
    """A live, read-only view of the registered names: compares equal to the tuple of them."""

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...
    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return available_datasets()[index]

    def __len__(self) -> int:
        return len(LOADERS)

    def __iter__(self) -> Iterator[str]:
        return iter(available_datasets())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _DatasetNames):
            return True
        return available_datasets() == other

    __hash__ = None  # type: ignore[assignment]  # the contents change as data sets are registered

    def __repr__(self) -> str:
        return repr(available_datasets())


#: The registered data set names (a live view: data sets registered later appear in it).
DATASETS: Sequence[str] = _DatasetNames()


# -- the built-in loaders ---------------------------------------------------------------------------
def _digits(root, *, seed, subset, image_size, augment):  # root ignored: embedded in scikit-learn
    return load_digits_split(seed=seed, subset=subset, image_size=image_size, augment=augment)


def _cifar(kind: str) -> Callable[..., DataSplit]:
    def load(root, *, seed, subset, image_size, augment):  # seed unused: the official split is fixed
        return load_cifar(root, kind, subset=subset, augment=augment, image_size=image_size)

    return load


def _imagenet(root, *, seed, subset, image_size, augment):
    return load_image_folder(root, image_size=image_size or 224, subset=subset, augment=augment)


def _synthetic(root, *, seed, subset, image_size, augment):
    if augment:
        raise ValueError("augment=True is not supported for 'synthetic' (flips would break its class means)")
    n_train, n_test = (256, 128) if subset is None else (min(256, subset), min(128, subset))
    return synthetic_split(10, 3, image_size or 8, n_train, n_test, seed)


def _moving_digits(task: str) -> Callable[..., DataSplit]:
    def load(root, *, seed, subset, image_size, augment):  # root ignored: made from scikit-learn's digits
        if augment:
            raise ValueError(f"augment=True is not supported for 'moving_digits_{task}' (a shifted or flipped event "
                             "frame would change the motion the label may be)")
        return load_moving_digits(task, seed, frames=FRAMES, size=image_size, subset=subset)

    return load


def _nmnist(root, *, seed, subset, image_size, augment):  # seed unused: the official split is fixed
    if augment or image_size not in (None, 34):
        raise ValueError("'nmnist' is read as recorded: 34 x 34 pixels (image_size None or 34), no augment")
    return load_nmnist(root, FRAMES, subset=subset)


register_dataset("digits", _digits)
register_dataset("cifar10", _cifar("cifar10"))
register_dataset("cifar100", _cifar("cifar100"))
register_dataset("imagenet", _imagenet)
register_dataset("synthetic", _synthetic)
register_dataset("moving_digits_digit", _moving_digits("digit"))
register_dataset("moving_digits_direction", _moving_digits("direction"))
register_dataset("nmnist", _nmnist)


# -- entry point --------------------------------------------------------------------------------------
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
    - ``"moving_digits_digit"`` / ``"moving_digits_direction"``: :func:`load_moving_digits` with
      :data:`~analysis.data.events.FRAMES` frames, labelled by the digit or by the direction;
      ``image_size``: the frame's side (default 16); items ``[T, 2, H, W]`` (root ignored, no ``augment``).
    - ``"nmnist"``: :func:`~analysis.data.nmnist.load_nmnist` from ``root`` (required), binned into
      :data:`~analysis.data.events.FRAMES` frames, items ``[T, 2, 34, 34]``.
    - any name added with :func:`register_dataset`.

    ``subset`` keeps the first n samples of each split; ``augment`` affects the training set only.
    Unknown names raise ``ValueError`` with a suggestion; missing data raises :class:`DataError`.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {available_datasets()}, got {type(name).__name__}")
    loader = LOADERS.get(name)
    subset = check_optional_positive_int("subset", subset)
    image_size = check_optional_positive_int("image_size", image_size)
    split = loader(root, seed=seed, subset=subset, image_size=image_size, augment=augment)
    if not isinstance(split, DataSplit):
        raise TypeError(
            f"the loader registered for data set {LOADERS.label(name)!r} returned {type(split).__name__}; "
            "a loader must return a DataSplit"
        )
    return split
