"""Event data: the moving digits made from scikit-learn's digits, and N-MNIST read from a folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.data import DataError, DataNotFoundError, load_dataset
from analysis.data.events import DIRECTIONS, event_frames, load_moving_digits, moving_digit_videos
from analysis.data.nmnist import load_nmnist, nmnist_frames, read_nmnist_events


# -- the moving digits ---------------------------------------------------------------------------------
def test_moving_digits_shapes_labels_and_determinism():
    split = load_moving_digits("direction", seed=3, frames=4, size=12, subset=40)
    x, y = split.train.tensors
    assert x.shape == (40, 4, 2, 12, 12) and split.frames == 4 and split.in_channels == 2 and split.image_size == 12
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0} and x.sum() > 0
    assert split.classes == DIRECTIONS and set(y.tolist()) <= {0, 1, 2, 3}
    again = load_moving_digits("direction", seed=3, frames=4, size=12, subset=40)
    assert torch.equal(again.train.tensors[0], x) and torch.equal(again.test.tensors[1], split.test.tensors[1])
    other = load_moving_digits("direction", seed=4, frames=4, size=12, subset=40)
    assert not torch.equal(other.train.tensors[0], x)
    digits = load_moving_digits("digit", seed=3, frames=4, size=12, subset=40)
    assert torch.equal(digits.train.tensors[0], x)  # the same samples, labelled by the digit
    assert digits.classes == tuple("0123456789") and digits.num_classes == 10
    # the digits data set's split: the same images in the same order
    plain = load_dataset("digits", seed=3, subset=40)
    assert torch.equal(plain.train.tensors[1], digits.train.tensors[1])


def test_every_direction_moves_the_digit_from_outside_to_outside():
    ink = np.zeros((4, 8, 8), np.float32)
    ink[:, 2:6, 3] = 1.0  # a bar
    videos = moving_digit_videos(ink, np.array([0, 1, 2, 3]), np.array([4, 4, 4, 4]), frames=6, size=16)
    assert videos.shape == (4, 7, 16, 16)
    assert videos[:, 0].sum() == 0 and videos[:, -1].sum() == 0  # enters and leaves the frame
    middle = videos[:, 3]
    cols = [np.nonzero(v.sum(0))[0].mean() for v in videos[0, 1:-1] if v.sum()]
    assert cols == sorted(cols) and cols[0] < cols[-1]  # right: the column grows
    rows = [np.nonzero(v.sum(1))[0].mean() for v in videos[3, 1:-1] if v.sum()]
    assert rows == sorted(rows, reverse=True)  # up: the row shrinks
    assert np.array_equal(videos[1], videos[0][::-1]) and np.array_equal(videos[3], videos[2][::-1])
    assert middle.sum() > 0


def test_the_sum_over_time_cannot_tell_left_from_right_but_the_frames_can():
    """What makes the direction a task one step cannot serve: for the same digit and offset, the
    events summed over T are identical for the two directions of one axis, the frames are not."""
    split = load_moving_digits("digit", seed=0, frames=6, size=16, subset=200)
    ink = (torch.from_numpy(np.asarray(load_dataset("digits", seed=0, subset=1).train.tensors[0][0, 0])) >= 0.5)
    image = ink.float().numpy()[None]
    for a, b in ((0, 1), (2, 3)):
        va = event_frames(moving_digit_videos(image, np.array([a]), np.array([5]), 6, 16))
        vb = event_frames(moving_digit_videos(image, np.array([b]), np.array([5]), 6, 16))
        assert torch.equal(va.sum(1), vb.sum(1))  # the one-step view
        assert not torch.equal(va, vb)  # the frames differ
    horizontal = event_frames(moving_digit_videos(image, np.array([0]), np.array([5]), 6, 16)).sum(1)
    vertical = event_frames(moving_digit_videos(image, np.array([2]), np.array([5]), 6, 16)).sum(1)
    assert not torch.equal(horizontal, vertical)  # the axis is visible in the sum
    x = split.train.tensors[0]
    assert torch.equal(x[:, :, 0].sum((1, 2, 3)), x[:, :, 1].sum((1, 2, 3)))  # as many ON as OFF events


def test_moving_digits_registered_and_bad_input_refused():
    split = load_dataset("moving_digits_direction", seed=1, subset=8)
    assert split.train.tensors[0].shape == (8, 8, 2, 16, 16) and split.num_classes == 4
    assert load_dataset("Moving-Digits-Digit", subset=8, image_size=10).image_size == 10
    with pytest.raises(ValueError, match="augment"):
        load_dataset("moving_digits_digit", augment=True)
    with pytest.raises(ValueError, match="task must be one of"):
        load_moving_digits("colour")
    with pytest.raises(ValueError, match="size"):
        load_moving_digits("digit", size=6)
    with pytest.raises(ValueError, match="frames"):
        load_moving_digits("digit", frames=0)


# -- N-MNIST -------------------------------------------------------------------------------------------
def _nmnist_bytes(events: list[tuple[int, int, int, int]]) -> bytes:
    """N-MNIST's binary format: 5 bytes per event, x, y, polarity bit 7 + timestamp bits 22-16,
    timestamp bits 15-8, timestamp bits 7-0."""
    out = bytearray()
    for x, y, p, t in events:
        out += bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def write_nmnist(root, part: str, digit: int, name: str, events) -> None:
    """One recording ``<root>/<part>/<digit>/<name>.bin`` in N-MNIST's format."""
    folder = root / part / str(digit)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.bin").write_bytes(_nmnist_bytes(events))


def test_nmnist_file_in_the_real_format_reads_back(tmp_path):
    pytest.importorskip("tonic")
    events = [(3, 5, 1, 0), (33, 0, 0, 70_000), (10, 20, 1, 300_000), (10, 20, 0, 299_999)]
    path = tmp_path / "one.bin"
    path.write_bytes(_nmnist_bytes(events))
    read = read_nmnist_events(path)
    assert read["x"].tolist() == [3, 33, 10, 10] and read["y"].tolist() == [5, 0, 20, 20]
    assert read["p"].tolist() == [1, 0, 1, 0] and read["t"].tolist() == [0, 70_000, 300_000, 299_999]
    frames = nmnist_frames(read, 3)  # bins of 100 ms
    assert frames.shape == (3, 2, 34, 34) and frames.sum() == 4
    assert frames[0, 0, 5, 3] == 1  # ON first: channel 0, [y, x]
    assert frames[0, 1, 0, 33] == 1  # OFF: channel 1
    assert frames[2, 0, 20, 10] == 1 and frames[2, 1, 20, 10] == 1


def test_nmnist_folder_loads_binned_and_interleaved(tmp_path):
    pytest.importorskip("tonic")
    for part in ("Train", "Test"):
        for digit in (0, 7):
            for i in range(2):
                write_nmnist(tmp_path, part, digit, f"{i:05d}", [(digit, i, 1, 0), (1, 1, 0, 1000 * (i + 1))])
    split = load_nmnist(tmp_path, frames=2)
    x, y = split.train.tensors
    assert x.shape == (4, 2, 2, 34, 34) and y.tolist() == [0, 7, 0, 7] and split.frames == 2
    assert x[1, 0, 0, 0, 7] == 1  # digit 7's first event: ON at x=7, y=0, first bin
    assert len(load_nmnist(tmp_path, frames=2, subset=1).test) == 1
    assert load_dataset("nmnist", tmp_path, subset=2).train.tensors[0].shape == (2, 8, 2, 34, 34)


def test_nmnist_missing_or_malformed_names_the_folder_and_layout(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"Train.*does not exist.*<root>/Train/<digit 0-9>/\*\.bin"):
        load_nmnist(tmp_path / "nowhere", frames=4)
    with pytest.raises(DataNotFoundError, match="data_root"):
        load_dataset("nmnist")
    (tmp_path / "Train" / "3").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match=r"holds no <digit 0-9>/\*\.bin"):
        load_nmnist(tmp_path, frames=4)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00" * 7)
    with pytest.raises(DataError, match="5-byte events"):
        read_nmnist_events(bad)
    pytest.importorskip("tonic")
    bad.write_bytes(_nmnist_bytes([(200, 3, 1, 5)]))
    with pytest.raises(DataError, match="outside the 34 x 34 sensor"):
        read_nmnist_events(bad)
