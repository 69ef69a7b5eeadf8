"""Event data made from scikit-learn's digits (no files): each digit moves across a larger frame
over T frames in one of four directions, and each frame is turned into ON/OFF polarity events
where brightness changes, as an event camera emits them.

A sample is ``[T, 2, H, W]`` float32 of 0/1: channel 0 holds ON events (the pixel got brighter
between two consecutive frames), channel 1 OFF events (it got darker). Two tasks on the same
samples:

- ``digit`` (the digit, 10 classes): every frame shows the same digit, so **the order of the frames
  does not matter** — their sum over T carries the label;
- ``direction`` (``right``, ``left``, ``down``, ``up``): **the order matters**. The digit enters
  from outside the frame and leaves it completely (the first and last pictures are empty), and a
  digit moving left is exactly the time reversal of the same digit moving right along the same row.
  The digit is drawn in ink (a pixel is on where the digit's grey level is at least
  :data:`INK_LEVEL`), so each pixel's brightness steps 0 → 1 → 0 as often up as down: over a pass
  it emits as many ON as OFF events, and the frames summed over T are **identical** for the two
  directions of one axis (tested). A network that sees only that sum (OneSpike, one step) can tell
  the axis (horizontal or vertical) but not the sign: at most 50% on this task, chance 25%.

Deterministic: the train/test split is scikit-learn's stratified split of the digits with
``random_state=seed`` (the same images as ``load_dataset("digits", seed=seed)``); directions (an
equal number of each) and the offset across the motion are drawn from ``numpy`` with ``seed``.
"""

from __future__ import annotations

import numpy as np
import torch

from analysis.data.common import DataSplit, tensor_split
from analysis.validate import check_choice, check_int, check_optional_positive_int

__all__ = [
    "DIRECTIONS",
    "FRAMES",
    "FRAME_SIZE",
    "INK_LEVEL",
    "TASKS",
    "event_frames",
    "load_moving_digits",
    "moving_digit_videos",
]

#: The directions of motion, in label order.
DIRECTIONS = ("right", "left", "down", "up")
#: The tasks of the moving digits: the label is the digit or the direction of motion.
TASKS = ("digit", "direction")
#: The side of the frame the 8x8 digit moves across (pixels), by default.
FRAME_SIZE = 16
#: Event frames per sample (T), by default.
FRAMES = 8
#: A digit pixel is ink (brightness 1) where its grey level is at least this fraction of full scale
#: (8 of scikit-learn's 16 levels), else paper (0): a binary picture emits one event per edge passing.
INK_LEVEL = 0.5
#: The side of scikit-learn's digits.
DIGIT_SIZE = 8


def _positions(frames: int, size: int) -> np.ndarray:
    """Top-left coordinate of the digit along its motion in each of the T + 1 pictures: from fully
    outside on one side (−8) to fully outside on the other (``size``), evenly spaced, rounded."""
    return np.rint(np.linspace(-DIGIT_SIZE, size, frames + 1)).astype(np.int64)


def moving_digit_videos(images: np.ndarray, directions: np.ndarray, offsets: np.ndarray, frames: int,
                        size: int = FRAME_SIZE) -> np.ndarray:
    """The T + 1 pictures ``[N, T + 1, size, size]`` (0/1) of each binary 8x8 digit of ``images``
    (``[N, 8, 8]``) moving across a ``size`` x ``size`` frame in ``directions`` (indices into
    :data:`DIRECTIONS`), at ``offsets`` pixels across the motion (0 .. size − 8)."""
    n = len(images)
    pad = DIGIT_SIZE
    canvas = np.zeros((n, frames + 1, size + 2 * pad, size + 2 * pad), dtype=np.float32)
    along = _positions(frames, size)
    for i in range(n):
        steps = along if directions[i] in (0, 2) else along[::-1]  # left/up: the reversed path
        for k, p in enumerate(steps):
            if directions[i] in (0, 1):  # horizontal: the column moves, the row is the offset
                row, col = offsets[i], p
            else:
                row, col = p, offsets[i]
            canvas[i, k, row + pad:row + pad + DIGIT_SIZE, col + pad:col + pad + DIGIT_SIZE] = images[i]
    return canvas[:, :, pad:pad + size, pad:pad + size]


def event_frames(videos: np.ndarray | torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """ON/OFF events of pictures ``[N, T + 1, H, W]``: ``[N, T, 2, H, W]`` float32 of 0/1, channel 0
    where brightness rose by more than ``threshold`` from one picture to the next, channel 1 where it
    fell by more (one event per pixel and frame at most, as a binary spike map)."""
    videos = torch.as_tensor(videos, dtype=torch.float32)
    if videos.dim() != 4 or videos.shape[1] < 2:
        raise ValueError(f"videos must be [N, T + 1, H, W] with at least two pictures, got {tuple(videos.shape)}")
    change = videos[:, 1:] - videos[:, :-1]
    return torch.stack([(change > threshold), (change < -threshold)], dim=2).float()


def load_moving_digits(task: str = "digit", seed: int = 0, *, frames: int = FRAMES, size: int | None = None,
                       subset: int | None = None, test_fraction: float = 0.2) -> DataSplit:
    """The moving-digits event data set (see the module docstring) labelled by ``task`` (one of
    :data:`TASKS`): a :class:`DataSplit` of ``TensorDataset`` whose items are ``([frames, 2, size,
    size] events, label)``, with ``frames`` set. ``size`` (default :data:`FRAME_SIZE`) must leave
    room to move: at least 8. ``subset`` keeps the first n samples of each split."""
    check_choice("task", task, TASKS, " (the digit, or the direction of motion)")
    frames = check_int("frames", frames, 1)
    size = FRAME_SIZE if size is None else check_int("size (the frame's side, pixels)", size, DIGIT_SIZE)
    subset = check_optional_positive_int("subset", subset)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, int | float) or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be a number strictly between 0 and 1, got {test_fraction!r}")
    # scikit-learn (with scipy.stats, ~1 s) is imported when the data is made, as analysis.data.digits does:
    # `import analysis.study` (every `onespike` command, a notebook's first cell) does not pay for it
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    ink = (digits.images / 16.0 >= INK_LEVEL).astype(np.float32)
    rng = np.random.default_rng(seed)
    directions = rng.permutation(np.arange(len(ink)) % len(DIRECTIONS))
    offsets = rng.integers(0, size - DIGIT_SIZE + 1, size=len(ink))
    index = np.arange(len(ink))
    train, test = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=digits.target)
    if subset is not None:
        train, test = train[:subset], test[:subset]
    labels = digits.target if task == "digit" else directions
    tensors = []
    for part in (train, test):
        tensors.append(event_frames(moving_digit_videos(ink[part], directions[part], offsets[part], frames, size)))
        tensors.append(torch.from_numpy(labels[part].astype(np.int64)))
    classes = tuple(str(i) for i in range(10)) if task == "digit" else DIRECTIONS
    split = tensor_split(f"moving_digits_{task}", tensors[0], tensors[1], tensors[2], tensors[3], len(classes),
                         augment=False, padding=0, flip=False, fill=0.0, classes=classes, mean=None, std=None)
    return DataSplit(split.train, split.test, split.num_classes, in_channels=2, image_size=size, name=split.name,
                     classes=classes, frames=frames)
