"""Hostile and careless data inputs: image pixel limits, damaged images, wrong data folders.

Every hostile file is made inside the test; every refusal is one line naming the file or folder.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from analysis.data import DataError, DataNotFoundError, load_dataset, load_image_folder
from analysis.data.folders import DEFAULT_MAX_IMAGE_PIXELS, MAX_PIXELS_ENV
from tests.fakes import write_fake_cifar, write_fake_image_folder


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def header_only_png(path: Path, width: int, height: int) -> Path:
    """A valid PNG header claiming ``width x height`` RGB pixels, with no pixel data: 65 bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"")) +
                     _chunk(b"IEND", b""))
    return path


def header_only_jpeg(path: Path, width: int, height: int) -> Path:
    """A baseline JPEG whose frame header claims ``width x height`` pixels, with no scan data: 37 bytes."""
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    sos = bytes([3]) + b"".join(bytes([i, 0]) for i in (1, 2, 3)) + b"\x00\x3f\x00"
    path.write_bytes(b"\xff\xd8\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xda" +
                     struct.pack(">H", len(sos) + 2) + sos + b"\xff\xd9")
    return path


@pytest.fixture
def one_image(tmp_path: Path) -> tuple[Path, Path]:
    """An image tree with one class and one image per split; returns (root, the train image)."""
    root = write_fake_image_folder(tmp_path / "tree", ["a"], per_class=1, size=8)
    return root, root / "train" / "a" / "img_000.png"


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if Pillow starts decoding pixels: refusals must come from the header alone."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("pixels were decoded before the size check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


# -- pixel limits --------------------------------------------------------------------------------------
@pytest.mark.parametrize("side", [100_000, 12_000])
def test_oversized_png_is_refused_from_its_header(one_image, no_decoding, monkeypatch, side):
    # 100000^2 made Pillow raise DecompressionBombError as a traceback; 12000^2 decoded ~1 GB with a warning.
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    root, image = one_image
    header_only_png(image, side, side)
    assert image.stat().st_size == 65
    data = load_image_folder(root, image_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not escape either
        with pytest.raises(DataError, match=r"refused image .*img_000\.png: .*limit of 40,000,000 pixels") as info:
            data.train[0]
    text = _one_line(info.value)
    assert "max_pixels=N" in text and MAX_PIXELS_ENV in text
    if side == 12_000:
        assert "12000x12000 = 144,000,000 pixels (from its header, not decoded)" in text


def test_oversized_jpeg_is_refused_from_its_header(tmp_path, no_decoding):
    root = tmp_path / "tree"
    for split in ("train", "val"):
        (root / split / "a").mkdir(parents=True)
        header_only_jpeg(root / split / "a" / "big.jpg", 12_000, 9_000)
    with pytest.raises(DataError, match=r"refused image .*big\.jpg: 12000x9000 = 108,000,000 pixels \(from its header"):
        load_image_folder(root, image_size=8).test[0]


def test_extreme_aspect_ratio_is_refused_before_resizing(one_image, no_decoding):
    # 1 x 30000 is small, but resized to a shorter side of 9 it becomes 9 x 270000.
    root, image = one_image
    header_only_png(image, 1, 30_000)
    data = load_image_folder(root, image_size=8, max_pixels=1_000_000)
    with pytest.raises(DataError, match=r"img_000\.png: resizing its 1x30000 pixels .* 9x270000 = 2,430,000 pixels"):
        data.train[0]


def test_pixel_limit_can_be_raised_and_lowered(one_image, monkeypatch):
    root, image = one_image
    Image.fromarray(np.full((30, 40, 3), 200, dtype=np.uint8)).save(image)  # 1200 pixels
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    assert load_image_folder(root, image_size=8).train[0][0].shape == (3, 8, 8)  # default limit: loads
    with pytest.raises(DataError, match=r"40x30 = 1,200 pixels .* over the limit of 1,000 pixels"):
        load_image_folder(root, image_size=8, max_pixels=1000).train[0]
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000")
    with pytest.raises(DataError, match=r"over the limit of 1,000 pixels"):
        load_image_folder(root, image_size=8).train[0]
    # An explicit max_pixels wins over the environment; 1200 source and 10x13 resized pixels fit.
    assert load_image_folder(root, image_size=8, max_pixels=1200).train[0][0].shape == (3, 8, 8)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(DataError, match=rf"{MAX_PIXELS_ENV}='lots' is not a positive whole number"):
        load_image_folder(root, image_size=8).train[0]
    with pytest.raises(ValueError, match="max_pixels must be a positive integer"):
        load_image_folder(root, image_size=8, max_pixels=0)
    assert DEFAULT_MAX_IMAGE_PIXELS == 40_000_000


def test_limit_above_pillows_own_says_to_raise_pillows(one_image, no_decoding):
    root, image = one_image
    header_only_png(image, 100_000, 100_000)
    data = load_image_folder(root, image_size=8, max_pixels=10**12)
    with pytest.raises(DataError, match=r"img_000\.png: .*raise PIL\.Image\.MAX_IMAGE_PIXELS as well") as info:
        data.train[0]
    _one_line(info.value)


# -- damaged images ------------------------------------------------------------------------------------
def _good_png_bytes(tmp_path: Path) -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "good.png")
    return (tmp_path / "good.png").read_bytes()


@pytest.mark.parametrize(
    "damage",
    ["empty", "text", "truncated", "bad_crc", "jpeg_named_png_garbage"],
)
def test_damaged_image_is_one_line_naming_the_file(one_image, tmp_path, damage):
    root, image = one_image
    good = _good_png_bytes(tmp_path)
    if damage == "empty":
        image.write_bytes(b"")
    elif damage == "text":
        image.write_text("not an image\n")
    elif damage == "truncated":
        image.write_bytes(good[: len(good) // 2])
    elif damage == "bad_crc":
        flipped = bytearray(good)
        flipped[40] ^= 0xFF  # inside the first IDAT chunk: its CRC no longer matches
        image.write_bytes(bytes(flipped))
    else:
        image.write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))  # a JPEG start marker, then zeros
    with pytest.raises(DataError, match=r"cannot read image .*img_000\.png: \w+") as info:
        load_image_folder(root, image_size=8).train[0]
    _one_line(info.value)


# -- wrong data folders --------------------------------------------------------------------------------
def test_image_root_that_is_a_file_or_a_split_folder(tmp_path: Path):
    root = write_fake_image_folder(tmp_path / "tree", ["a", "b"], per_class=1, size=8)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"notes\.txt is a file, not a folder; expected ROOT/train") as info:
        load_dataset("imagenet", tmp_path / "notes.txt")
    _one_line(info.value)
    with pytest.raises(DataNotFoundError, match=rf"{root / 'train'} is itself a split folder; pass its parent {root}"):
        load_dataset("imagenet", root / "train")


def test_cifar_root_that_is_the_archive_or_the_other_kind(tmp_path: Path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + bytes(10))
    with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz is a file \(the downloaded archive, not "
                                        r"extracted\?\); expected the folder cifar-10-batches-py/") as info:
        load_dataset("cifar10", archive)
    assert "extract it into" in _one_line(info.value)
    write_fake_cifar(tmp_path / "c100", "cifar100", n_train=5, n_test=2)
    with pytest.raises(DataNotFoundError, match=r"no cifar10 batches in .*c100, but it holds cifar100 .*load it as "
                                                r"'cifar100'") as info:
        load_dataset("cifar10", tmp_path / "c100")
    _one_line(info.value)
    assert load_dataset("cifar100", tmp_path / "c100").num_classes == 100


def test_missing_folders_stay_one_line_with_the_fix(tmp_path: Path):
    for name, fix in (("cifar10", "download cifar-10-python.tar.gz"), ("cifar100", "download cifar-100-python"),
                      ("imagenet", "expected ROOT/train/<class>/<image>")):
        missing = tmp_path / "nowhere"
        with pytest.raises(DataNotFoundError, match=rf"{name} data folder {missing} does not exist") as info:
            load_dataset(name, missing)
        assert fix in _one_line(info.value)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads every folder whatever its mode")
def test_unreadable_split_folder_is_one_line(tmp_path: Path):
    root = write_fake_image_folder(tmp_path / "tree", ["a"], per_class=1, size=8)
    (root / "val").chmod(0)
    try:
        with pytest.raises(DataError, match=r"cannot list image folder .*val: .*check that it is readable"):
            load_dataset("imagenet", root)
    finally:
        (root / "val").chmod(0o755)

