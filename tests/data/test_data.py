"""Data loaders: digits, CIFAR-10/100 and image folders from generated files, errors, safety."""

from __future__ import annotations

import os
import pickle
import pickletools
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from analysis.data import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    DATASETS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentedTensorDataset,
    DataError,
    DataNotFoundError,
    DataSplit,
    ImageFolderDataset,
    available_datasets,
    load_cifar,
    load_dataset,
    load_digits_split,
    load_image_folder,
    random_crop_flip,
    read_cifar_batch,
    register_dataset,
    synthetic_split,
)
from analysis.data import registry as data_registry
from tests.fakes import write_fake_cifar, write_fake_image_folder


# -- helpers -------------------------------------------------------------------------------------------
def _raw_split(folder: Path, files: list[str], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The stored uint8 rows and labels, read with the standard (unrestricted) unpickler as reference."""
    datas, labels = [], []
    for name in files:
        with open(folder / name, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        datas.append(batch[b"data"])
        labels.extend(batch[label_key])
    return np.concatenate(datas), np.asarray(labels, dtype=np.int64)


def _denormalise(x: torch.Tensor, mean: tuple, std: tuple) -> np.ndarray:
    m = torch.tensor(mean).reshape(1, 3, 1, 1)
    s = torch.tensor(std).reshape(1, 3, 1, 1)
    return torch.round((x * s + m) * 255).to(torch.int64).numpy()


def _write_batch(path: Path, obj: object, protocol: int = 2) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


@pytest.fixture
def cifar10_dir(tmp_path: Path) -> Path:
    return write_fake_cifar(tmp_path, "cifar10", n_train=23, n_test=7, seed=1)


# -- digits --------------------------------------------------------------------------------------------
def test_digits_shapes_range_and_dtypes():
    split = load_digits_split()
    assert isinstance(split, DataSplit)
    x_tr, y_tr = split.train.tensors
    x_te, y_te = split.test.tensors
    assert x_tr.shape == (1437, 1, 8, 8) and x_te.shape == (360, 1, 8, 8)
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert float(x_tr.min()) == 0.0 and float(x_tr.max()) == 1.0
    # pixel/16 exactly: multiplying back gives the original integer intensities 0..16
    assert torch.equal(x_tr * 16, torch.round(x_tr * 16))
    assert set(y_tr.tolist()) == set(range(10)) == set(y_te.tolist())
    assert (split.num_classes, split.in_channels, split.image_size, split.name) == (10, 1, 8, "digits")
    assert split.mean is None and split.std is None
    image, label = split.train[0]
    assert image.shape == (1, 8, 8) and label.dtype == torch.int64 and label.dim() == 0


def test_digits_split_is_deterministic_and_stratified():
    a, b, c = load_digits_split(seed=3), load_digits_split(seed=3), load_digits_split(seed=4)
    for t_a, t_b in zip(a.train.tensors + a.test.tensors, b.train.tensors + b.test.tensors, strict=True):
        assert torch.equal(t_a, t_b)
    assert not torch.equal(a.test.tensors[1], c.test.tensors[1])
    y_tr, y_te = a.train.tensors[1], a.test.tensors[1]
    total = torch.bincount(torch.cat([y_tr, y_te]), minlength=10).double()
    share = torch.bincount(y_te, minlength=10).double() / total
    assert torch.all((share - 0.2).abs() < 0.02)  # every class is ~20% in test
    split = load_digits_split(test_fraction=0.5)
    assert len(split.train) + len(split.test) == 1797 and abs(len(split.test) - 898.5) <= 1


def test_digits_subset_resize_augment_and_bad_arguments():
    split = load_dataset("digits", subset=10, image_size=16, augment=True)
    assert len(split.train) == 10 and len(split.test) == 10 and split.image_size == 16
    assert isinstance(split.train, AugmentedTensorDataset)
    image, _ = split.train[0]
    assert image.shape == (1, 16, 16) and 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_split(test_fraction=1.0)
    with pytest.raises(ValueError, match="subset"):
        load_dataset("digits", subset=0)


# -- CIFAR ---------------------------------------------------------------------------------------------
def test_fake_cifar_files_have_the_real_format(cifar10_dir: Path):
    names = sorted(p.name for p in cifar10_dir.iterdir())
    assert names == ["batches.meta", *[f"data_batch_{i}" for i in range(1, 6)], "test_batch"]
    raw = (cifar10_dir / "data_batch_1").read_bytes()
    batch = pickle.loads(raw, encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape[1] == 3072
    # Python 2 protocol 2 opcodes only: strings as BINSTRING, numpy 1.x global names, no bytes opcodes.
    ops = {op.name for op, _, _ in pickletools.genops(raw)}
    assert not ops & {"BINBYTES", "SHORT_BINBYTES", "BINUNICODE", "STACK_GLOBAL"}
    globals_ = {arg for op, arg, _ in pickletools.genops(raw) if op.name == "GLOBAL"}
    assert globals_ == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}


@pytest.mark.parametrize(
    ("kind", "mean", "std", "label_key"),
    [("cifar10", CIFAR10_MEAN, CIFAR10_STD, b"labels"), ("cifar100", CIFAR100_MEAN, CIFAR100_STD, b"fine_labels")],
)
def test_cifar_round_trip(tmp_path: Path, kind, mean, std, label_key):
    folder = write_fake_cifar(tmp_path, kind, n_train=23, n_test=7, seed=2)
    split = load_dataset(kind, tmp_path)  # the parent folder is accepted ...
    again = load_cifar(folder, kind)  # ... and so is the batch folder itself
    assert torch.equal(split.train.tensors[0], again.train.tensors[0])
    train_files = [f"data_batch_{i}" for i in range(1, 6)] if kind == "cifar10" else ["train"]
    test_file = ["test_batch"] if kind == "cifar10" else ["test"]
    for ds, files, n in ((split.train, train_files, 23), (split.test, test_file, 7)):
        data, labels = _raw_split(folder, files, label_key)
        x, y = ds.tensors
        assert x.shape == (n, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
        assert torch.equal(y, torch.from_numpy(labels))
        # The stored bytes come back exactly (row = 1024 R, 1024 G, 1024 B, each 32x32 row-major) ...
        assert np.array_equal(_denormalise(x, mean, std), data.reshape(n, 3, 32, 32).astype(np.int64))
        # ... and the normalisation is (pixel / 255 - mean) / std per channel.
        i, c, r, col = n - 1, 2, 5, 31
        expected = (data[i, c * 1024 + r * 32 + col] / 255.0 - mean[c]) / std[c]
        assert float(x[i, c, r, col]) == pytest.approx(expected, abs=1e-6)
    assert split.num_classes == (10 if kind == "cifar10" else 100)
    assert (split.in_channels, split.image_size, split.name) == (3, 32, kind)
    assert split.mean == mean and split.std == std
    if kind == "cifar10":
        assert split.classes == CIFAR10_CLASSES
    else:
        assert split.classes[:2] == ("class_000", "class_001") and len(split.classes) == 100


def test_cifar_subset_takes_the_first_samples(cifar10_dir: Path):
    full = load_cifar(cifar10_dir, "cifar10")
    small = load_dataset("cifar10", cifar10_dir, subset=3)
    assert len(small.train) == 3 and len(small.test) == 3
    for big, part in zip(full.train.tensors + full.test.tensors, small.train.tensors + small.test.tensors, strict=True):
        assert torch.equal(big[:3], part)
    # Subset larger than the data keeps everything.
    assert len(load_dataset("cifar10", cifar10_dir, subset=1000).train) == 23


def test_cifar_augment_keeps_shape_and_pads_with_black(cifar10_dir: Path):
    split = load_dataset("cifar10", cifar10_dir, augment=True)
    plain = load_dataset("cifar10", cifar10_dir)
    assert isinstance(split.train, AugmentedTensorDataset)
    assert torch.equal(split.train.tensors[0], plain.train.tensors[0])  # stored data not augmented
    assert not isinstance(split.test, AugmentedTensorDataset)
    torch.manual_seed(0)
    items = [split.train[0][0] for _ in range(20)]
    assert all(t.shape == (3, 32, 32) and t.dtype == torch.float32 for t in items)
    assert any(not torch.equal(t, plain.train.tensors[0][0]) for t in items)
    black = torch.tensor([-m / s for m, s in zip(CIFAR10_MEAN, CIFAR10_STD, strict=True)]).reshape(3, 1, 1)
    # Every augmented value is either an original pixel value or the black padding.
    original = set(plain.train.tensors[0][0].flatten().tolist())
    pad_values = set(black.flatten().tolist())
    assert all(set(t.flatten().tolist()) <= original | pad_values for t in items)


def test_cifar_image_size_resizes(cifar10_dir: Path):
    split = load_dataset("cifar10", cifar10_dir, image_size=16)
    assert split.train.tensors[0].shape == (23, 3, 16, 16) and split.image_size == 16


# -- augmentation helper -----------------------------------------------------------------------------
def test_random_crop_flip_windows_and_flips():
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    assert torch.equal(random_crop_flip(x, padding=0, flip=False), x)
    out = random_crop_flip(x, padding=2, flip=False, fill=-1.0, generator=gen)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)
    windows = [padded[:, :, i : i + 6, j : j + 6] for i in range(5) for j in range(5)]
    for b in range(2):  # each image is one window of its padded version (channels move together)
        assert any(torch.equal(out[b], w[b]) for w in windows)
    flips = [random_crop_flip(x[0], padding=0, generator=gen) for _ in range(20)]
    assert all(torch.equal(f, x[0]) or torch.equal(f, x[0].flip(-1)) for f in flips)
    assert any(torch.equal(f, x[0].flip(-1)) for f in flips) and any(torch.equal(f, x[0]) for f in flips)
    same_a = random_crop_flip(x, generator=torch.Generator().manual_seed(5))
    same_b = random_crop_flip(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(same_a, same_b)
    with pytest.raises(ValueError, match="fill"):
        random_crop_flip(x, fill=[0.0, 1.0])


# -- CIFAR errors and safety ---------------------------------------------------------------------------
def test_missing_cifar_folder_and_root_none(tmp_path: Path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("cifar10", missing)
    msg = str(info.value)
    assert (
        str(missing) in msg and "cifar-10-python.tar.gz" in msg and "https://www.cs.toronto.edu/~kriz/cifar.html" in msg
    )
    assert "data_batch_1" in msg and "test_batch" in msg
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    for kind, tarball in (("cifar10", "cifar-10-python.tar.gz"), ("cifar100", "cifar-100-python.tar.gz")):
        with pytest.raises(DataError, match="root=None") as info:
            load_dataset(kind)
        assert tarball in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no cifar100 batches") as info:
        load_dataset("cifar100", empty)
    assert "train, test" in str(info.value)


def test_missing_cifar_file_is_named(cifar10_dir: Path):
    (cifar10_dir / "data_batch_3").unlink()
    (cifar10_dir / "test_batch").unlink()
    with pytest.raises(DataNotFoundError, match=r"missing data_batch_3, test_batch") as info:
        load_dataset("cifar10", cifar10_dir)
    assert str(cifar10_dir) in str(info.value)


def _good_batch(n: int = 4) -> dict:
    return {b"data": np.zeros((n, 3072), dtype=np.uint8), b"labels": [0] * n, b"batch_label": b"x"}


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b.pop(b"data"), r"missing key\(s\) \['data'\]"),
        (lambda b: b.pop(b"labels"), r"missing key\(s\) \['labels'\]"),
        (lambda b: b.update({b"data": np.zeros((4, 3000), np.uint8)}), r"uint8 array \[N, 3072\]"),
        (lambda b: b.update({b"data": np.zeros((4, 3072), np.float32)}), r"found float32"),
        (lambda b: b.update({b"data": [[0] * 3072] * 4}), r"uint8 array"),
        (lambda b: b.update({b"labels": [0, 1, 2]}), r"4 images but 3 labels"),
        (lambda b: b.update({b"labels": [0, 1, 2, 10]}), r"labels must lie in \[0, 10\)"),
        (lambda b: b.update({b"labels": [0, 1, 2, b"3"]}), r"list of ints"),
    ],
)
def test_malformed_batch_is_refused_naming_the_file(cifar10_dir: Path, mutate, match):
    batch = _good_batch()
    mutate(batch)
    _write_batch(cifar10_dir / "data_batch_2", batch, protocol=4)
    with pytest.raises(DataError, match=match) as info:
        load_dataset("cifar10", cifar10_dir)
    assert "data_batch_2" in str(info.value)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"this is not a pickle", "not a readable CIFAR batch"),
        (None, "not a readable CIFAR batch"),  # truncated real batch
        (pickle.dumps([1, 2, 3], protocol=2), "expected a dict, found list"),
        (pickle.dumps({1: 2}, protocol=4), "unexpected key"),
    ],
)
def test_unreadable_batches(cifar10_dir: Path, content, match):
    target = cifar10_dir / "test_batch"
    if content is None:
        content = target.read_bytes()[:500]
    target.write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        load_dataset("cifar10", cifar10_dir)
    assert "test_batch" in str(info.value)


class _SystemCall:
    """Pickles to a call of os.system(command) when loaded by an unrestricted unpickler."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _OpenCall:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_pickle_is_refused_and_not_executed(cifar10_dir: Path, tmp_path: Path, protocol: int):
    marker = tmp_path / f"pwned_{protocol}"
    # str keys: under protocol 2 Python 3 writes bytes via a _codecs.encode global, refused before os.system.
    payload = pickle.dumps({"data": _SystemCall(f"touch {marker}"), "labels": [0]}, protocol=protocol)
    (cifar10_dir / "data_batch_1").write_bytes(payload)
    with pytest.raises(DataError, match=r"data_batch_1 is not a CIFAR batch.*refused.*system") as info:
        load_dataset("cifar10", cifar10_dir)
    assert "numpy.core.multiarray._reconstruct" in str(info.value)
    with pytest.raises(DataError, match="refused"):
        read_cifar_batch(cifar10_dir / "data_batch_1")
    assert not marker.exists()
    # Control: the payload is live, the standard unpickler would run it (so the check above means something).
    if os.name == "posix" and shutil.which("touch"):
        pickle.loads(payload)
        assert marker.exists()


def test_other_dangerous_globals_are_refused(cifar10_dir: Path, tmp_path: Path):
    marker = tmp_path / "opened"
    target = cifar10_dir / "data_batch_1"
    payloads = [
        pickle.dumps({b"data": _OpenCall(str(marker))}, protocol=2),  # builtins.open
        b"cbuiltins\neval\n(V__import__('os')\ntR.",  # raw GLOBAL opcode
        b"\x80\x02c__builtin__\ngetattr\n.",  # a Python 2 spelling
        pickle.dumps(np.ma.masked_array([1, 2]), protocol=2),  # ndarray subclass
        pickle.dumps(np.array([object()], dtype=object)[:0], protocol=2),  # object dtype
    ]
    for payload in payloads:
        target.write_bytes(payload)
        with pytest.raises(DataError, match="refused") as info:
            read_cifar_batch(target)
        assert str(target) in str(info.value)
    assert not marker.exists()
    # numpy.ndarray resolves to a token usable only inside array reconstruction, never called directly.
    target.write_bytes(b"\x80\x02cnumpy\nndarray\n(K\x01\x85U\x01OtR.")  # ndarray((1,), "O")
    with pytest.raises(DataError, match="not callable"):
        read_cifar_batch(target)


# -- image folders -------------------------------------------------------------------------------------
def test_image_folder_shapes_classes_and_laziness(tmp_path: Path):
    root = write_fake_image_folder(tmp_path, ["dog", "cat", "ant"], per_class=3, size=(40, 30), seed=0)
    split = load_dataset("imagenet", root, image_size=16)
    assert isinstance(split.train, ImageFolderDataset) and isinstance(split.test, ImageFolderDataset)
    assert split.classes == ("ant", "cat", "dog") and split.num_classes == 3
    assert split.train.class_to_idx == split.test.class_to_idx == {"ant": 0, "cat": 1, "dog": 2}
    assert len(split.train) == 9 and len(split.test) == 9
    assert split.train.resize == round(16 * 256 / 224)
    # Lazy: only paths are held; first samples interleave the classes.
    assert all(isinstance(p, str) for p, _ in split.train.samples)
    assert [label for _, label in split.train.samples[:3]] == [0, 1, 2]
    for path, label in split.train.samples:
        assert Path(path).parent.name == split.classes[label]
    x, y = split.train[4]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.int64 and y.dim() == 0
    assert (split.in_channels, split.image_size, split.mean, split.std) == (3, 16, IMAGENET_MEAN, IMAGENET_STD)
    assert load_image_folder(root).train.resize == 256
    small = load_dataset("imagenet", root, image_size=16, subset=4)
    assert len(small.train) == 4 and {label for _, label in small.train.samples} == {0, 1, 2}


def test_image_folder_center_crop_and_normalisation(tmp_path: Path):
    for split in ("train", "val"):
        (tmp_path / split / "only").mkdir(parents=True)
    # 12 x 8 image, blue border, red centre 4 x 4 at rows 2..5, cols 4..7: exactly the centre crop.
    pixels = np.zeros((8, 12, 3), dtype=np.uint8)
    pixels[:, :, 2] = 255
    pixels[2:6, 4:8] = (255, 0, 0)
    for split in ("train", "val"):
        Image.fromarray(pixels).save(tmp_path / split / "only" / "a.PNG")
        (tmp_path / split / "only" / "notes.txt").write_text("ignored: not an image")
    data = load_image_folder(tmp_path, image_size=4, resize=8)
    assert len(data.train) == 1
    x, _ = data.test[0]
    red = torch.tensor([(1.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], -IMAGENET_MEAN[1] / IMAGENET_STD[1],
                        -IMAGENET_MEAN[2] / IMAGENET_STD[2]]).reshape(3, 1, 1)  # fmt: skip
    assert torch.allclose(x, red.expand(3, 4, 4), atol=1e-6)
    # Shorter side resized to `resize` keeping the aspect ratio (8 x 12 -> 16 x 24), then centre crop 8:
    # the red block again; bilinear blending with the blue border reaches only the outermost ring.
    up, _ = ImageFolderDataset(data.train.samples, data.classes, image_size=8, resize=16)[0]
    assert up.shape == (3, 8, 8)
    assert torch.allclose(up[:, 1:-1, 1:-1], red.expand(3, 6, 6), atol=1e-6)
    assert not torch.allclose(up[:, 0, 0], red.flatten(), atol=1e-3)
    # Augment keeps the shape.
    aug = load_image_folder(tmp_path, image_size=4, resize=8, augment=True)
    assert aug.train[0][0].shape == (3, 4, 4) and not aug.test.augment


def test_image_folder_errors(tmp_path: Path):
    with pytest.raises(DataError, match="root=None") as info:
        load_dataset("imagenet")
    assert "valprep.sh" in str(info.value)
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_dataset("imagenet", tmp_path / "missing")
    root = write_fake_image_folder(tmp_path / "a", 2, per_class=1, size=8, splits=("train",))
    with pytest.raises(DataNotFoundError, match=r"val does not exist.*ILSVRC2012"):
        load_dataset("imagenet", root)
    root = write_fake_image_folder(tmp_path / "b", ["x", "y"], per_class=1, size=8, splits=("train",))
    write_fake_image_folder(root, ["x", "zebra"], per_class=1, size=8, splits=("val",))
    with pytest.raises(DataError, match=r"not present in .*train: zebra"):
        load_dataset("imagenet", root)
    # Flat val folder, as the raw ILSVRC2012 archive extracts.
    root = write_fake_image_folder(tmp_path / "c", ["x"], per_class=1, size=8, splits=("train",))
    (root / "val").mkdir()
    Image.new("RGB", (8, 8)).save(root / "val" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(DataError, match=r"valprep\.sh"):
        load_dataset("imagenet", root)
    root = write_fake_image_folder(tmp_path / "d", ["x"], per_class=1, size=8)
    (root / "train" / "empty_class").mkdir()
    with pytest.raises(DataError, match="without images: empty_class"):
        load_dataset("imagenet", root)
    with pytest.raises(ValueError, match="resize"):
        load_image_folder(write_fake_image_folder(tmp_path / "e", 1, 1, 8), image_size=10, resize=8)


# -- synthetic and the entry point ---------------------------------------------------------------------
def test_synthetic_split_is_deterministic_and_learnable():
    a = synthetic_split(num_classes=4, in_channels=2, image_size=5, n_train=40, n_test=20, seed=7)
    b = synthetic_split(num_classes=4, in_channels=2, image_size=5, n_train=40, n_test=20, seed=7)
    x_tr, y_tr = a.train.tensors
    x_te, y_te = a.test.tensors
    assert x_tr.shape == (40, 2, 5, 5) and x_te.shape == (20, 2, 5, 5) and y_tr.dtype == torch.int64
    assert torch.equal(x_tr, b.train.tensors[0]) and torch.equal(y_te, b.test.tensors[1])
    assert torch.equal(torch.bincount(y_tr), torch.full((4,), 10))
    # Nearest class mean (from train) classifies test almost perfectly.
    means = torch.stack([x_tr[y_tr == c].mean(0) for c in range(4)]).flatten(1)
    pred = torch.cdist(x_te.flatten(1), means).argmin(1)
    assert (pred == y_te).float().mean() > 0.9
    split = load_dataset("synthetic", subset=16, image_size=6)
    assert len(split.train) == 16 and split.train.tensors[0].shape[1:] == (3, 6, 6)
    with pytest.raises(ValueError, match="augment"):
        load_dataset("synthetic", augment=True)


def test_unknown_name_suggests_and_lists_names():
    assert DATASETS == ("digits", "cifar10", "cifar100", "imagenet", "synthetic", "moving_digits_digit",
                        "moving_digits_direction", "nmnist")
    with pytest.raises(ValueError, match=r"Did you mean 'imagenet'\?") as info:
        load_dataset("imagenett")
    assert "digits, cifar10, cifar100, imagenet, synthetic, moving_digits_digit" in str(info.value)
    with pytest.raises(ValueError, match=r"Did you mean 'digits'\?"):
        load_dataset("digit")
    with pytest.raises(ValueError, match="unknown data set 'svhn'") as info:
        load_dataset("svhn")
    assert "Did you mean" not in str(info.value)
    with pytest.raises(ValueError, match=r"Did you mean 'nmnist'\?"):
        load_dataset("mnist")
    with pytest.raises(TypeError, match="name"):
        load_dataset(10)
    assert load_dataset("Digits", subset=2).name == "digits"


# -- the registry of data sets -------------------------------------------------------------------------
@pytest.fixture
def restore_registry():
    saved = data_registry.LOADERS.items()
    yield
    for name in data_registry.LOADERS.names():
        data_registry.LOADERS.remove(name)
    for name, loader in saved:
        data_registry.LOADERS.add(name, loader)


def test_register_dataset_refuses_duplicates_unless_replace(restore_registry):
    calls = []

    def tiny(root, *, seed, subset, image_size, augment):
        calls.append((root, seed, subset, image_size, augment))
        return synthetic_split(num_classes=2, in_channels=1, image_size=4, n_train=4, n_test=2, seed=seed)

    register_dataset("My-Set", tiny)
    assert "My-Set" in DATASETS and available_datasets()[-1] == "My-Set" and len(DATASETS) == 9
    split = load_dataset("my_set", "somewhere", seed=3, subset=2)
    assert calls == [("somewhere", 3, 2, None, False)] and split.num_classes == 2
    with pytest.raises(ValueError, match=r"'my_set' is already registered \(as 'My-Set'\).*replace=True"):
        register_dataset("my_set", tiny)
    with pytest.raises(ValueError, match=r"'CIFAR-10' is already registered.*replace=True"):
        register_dataset("CIFAR-10", tiny)
    register_dataset("cifar10", tiny, replace=True)
    assert load_dataset("cifar10", seed=1).num_classes == 2 and DATASETS[1] == "cifar10"


def test_register_dataset_checks_its_arguments(restore_registry):
    with pytest.raises(TypeError, match="must be callable"):
        register_dataset("x", "not a function")
    with pytest.raises(ValueError, match="non-empty string"):
        register_dataset(" -_", lambda root, **kw: None)
    register_dataset("broken", lambda root, **kw: (None, None))
    with pytest.raises(TypeError, match=r"loader registered for data set 'broken' returned tuple"):
        load_dataset("broken")
    with pytest.raises(ValueError, match=r"Did you mean 'broken'\?"):
        load_dataset("brokn")
