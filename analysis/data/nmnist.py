"""N-MNIST (Orchard et al. 2015, "Converting static image datasets to spiking neuromorphic datasets
using saccades", Front. Neurosci. 9:437) from a local folder, read with ``tonic`` and binned into T
event frames. Nothing is downloaded.

The folder is the one the data set's archives unpack to::

    <root>/Train/<digit 0-9>/<id>.bin
    <root>/Test/<digit 0-9>/<id>.bin

Each ``.bin`` is the recording of one digit by an ATIS camera of 34 x 34 pixels, 5 bytes (40 bits)
per event: x (8 bits), y (8 bits), polarity (1 bit, 1 = ON) and a timestamp in µs (23 bits); tonic's
:func:`tonic.io.read_mnist_file` decodes it. A sample becomes ``[T, 2, 34, 34]`` float32 of 0/1: the
recording cut into T bins of equal duration from its first to its last event (binned here: tonic's
``ToFrame(n_time_bins=T)`` ends its last bin before the last timestamp and drops those events), channel 0 the ON
events, channel 1 the OFF events, a pixel 1 where it emitted at least one event of that polarity in
that bin (a binary spike map: several events in one bin count once).

``tonic`` is the optional ``events`` extra (``pip install 'onespike-study[events]'``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from analysis.data.common import DataError, DataNotFoundError, DataSplit, tensor_split
from analysis.validate import check_int, check_optional_positive_int

__all__ = ["NMNIST_LAYOUT", "NMNIST_SENSOR", "load_nmnist", "nmnist_files", "nmnist_frames", "read_nmnist_events"]

#: The sensor of N-MNIST: (x, y, polarities).
NMNIST_SENSOR = (34, 34, 2)
#: The folder layout :func:`load_nmnist` expects, for its error messages.
NMNIST_LAYOUT = "<root>/Train/<digit 0-9>/*.bin and <root>/Test/<digit 0-9>/*.bin (the unpacked Train.zip and Test.zip)"


def _tonic():
    try:
        import tonic  # an optional extra: imported only when N-MNIST is read
    except ImportError as error:
        raise DataError("reading N-MNIST needs the 'tonic' package: pip install 'onespike-study[events]' (or pip "
                        "install tonic)") from error
    return tonic


def read_nmnist_events(path: str | Path) -> np.ndarray:
    """The events of one N-MNIST ``.bin`` file: a structured array with fields ``x``, ``y``, ``t``
    (µs) and ``p`` (1 = ON), in file order (tonic's reader; overflow markers dropped)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"N-MNIST file {str(path)!r} does not exist")
    data = path.read_bytes()
    if len(data) % 5:
        raise DataError(f"{str(path)!r} is not an N-MNIST file: {len(data)} bytes is not a whole number of 5-byte "
                        "events")
    dtype = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
    events = _tonic().io.read_mnist_file(str(path), dtype=dtype)
    bad = (events["x"] >= NMNIST_SENSOR[0]) | (events["y"] >= NMNIST_SENSOR[1])
    if bad.any():
        raise DataError(f"{str(path)!r} holds events outside the 34 x 34 sensor (x, y up to "
                        f"{int(events['x'].max())}, {int(events['y'].max())}): not an N-MNIST file")
    return events


def nmnist_frames(events: np.ndarray, frames: int) -> torch.Tensor:
    """``[frames, 2, 34, 34]`` float32 of 0/1 from one recording's events (see the module
    docstring): ON events in channel 0, OFF in channel 1. A recording with no events gives zeros."""
    frames = check_int("frames", frames, 1)
    out = torch.zeros(frames, 2, NMNIST_SENSOR[1], NMNIST_SENSOR[0])
    if len(events) == 0:
        return out
    t = events["t"] - events["t"].min()
    bins = torch.from_numpy((t * frames) // (int(t.max()) + 1))  # T bins of equal duration, every event in one
    polarity = torch.from_numpy(1 - events["p"])  # ON (p = 1) -> channel 0
    out[bins, polarity, torch.from_numpy(events["y"]), torch.from_numpy(events["x"])] = 1.0
    return out


def nmnist_files(root: str | Path, part: str) -> list[tuple[Path, int]]:
    """``(file, digit)`` of every ``.bin`` of ``<root>/<part>`` (``Train`` or ``Test``), the
    classes interleaved (the first n files hold every digit about equally); errors name the folder
    and the layout expected."""
    folder = Path(root).expanduser() / part
    if not folder.is_dir():
        raise DataNotFoundError(f"N-MNIST folder {str(folder)!r} does not exist; expected {NMNIST_LAYOUT} under "
                                f"{str(Path(root).expanduser())!r}")
    per_class = []
    for digit in range(10):
        files = sorted((folder / str(digit)).glob("*.bin")) if (folder / str(digit)).is_dir() else []
        per_class.append([(f, digit) for f in files])
    if not any(per_class):
        raise DataNotFoundError(f"N-MNIST folder {str(folder)!r} holds no <digit 0-9>/*.bin files; expected "
                                f"{NMNIST_LAYOUT}")
    longest = max(len(files) for files in per_class)
    return [files[i] for i in range(longest) for files in per_class if i < len(files)]


def load_nmnist(root: str | Path | None, frames: int, *, subset: int | None = None) -> DataSplit:
    """N-MNIST from ``root`` (see the module docstring) as a :class:`DataSplit` of ``TensorDataset``
    with items ``([frames, 2, 34, 34], digit)`` and ``frames`` set; ``subset`` keeps the first n
    recordings of each split (the digits interleaved). The official train/test split is kept."""
    if root is None:
        raise DataNotFoundError(f"N-MNIST needs its folder: give data_root (--data-root) with {NMNIST_LAYOUT}")
    frames = check_int("frames", frames, 1)
    subset = check_optional_positive_int("subset", subset)
    tensors = []
    for part in ("Train", "Test"):
        files = nmnist_files(root, part)[:subset]
        tensors.append(torch.stack([nmnist_frames(read_nmnist_events(f), frames) for f, _ in files]))
        tensors.append(torch.tensor([digit for _, digit in files], dtype=torch.int64))
    classes = tuple(str(i) for i in range(10))
    split = tensor_split("nmnist", tensors[0], tensors[1], tensors[2], tensors[3], 10, augment=False, padding=0,
                         flip=False, fill=0.0, classes=classes, mean=None, std=None)
    return DataSplit(split.train, split.test, 10, in_channels=2, image_size=NMNIST_SENSOR[0], name="nmnist",
                     classes=classes, frames=frames)
