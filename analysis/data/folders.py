"""ImageNet-style image folders: ``ROOT/train/<class>/<image>`` and ``ROOT/val/<class>/<image>``, read lazily.

Pixel limit: an image is decoded only when its width x height, read from the file header, is at most
:data:`DEFAULT_MAX_IMAGE_PIXELS` (40 megapixels, about 120 MB decoded as RGB; the largest ILSVRC2012
image is under 20 megapixels), and so is the image after resizing its shorter side to ``resize`` (a
1 x 10^6 strip is small on disk but not once resized). Anything larger is a one-line
:class:`DataError` naming the file; a genuine large image is let through by raising the limit with
``max_pixels=`` (:func:`load_image_folder`, :class:`ImageFolderDataset`) or the environment variable
``ONESPIKE_MAX_IMAGE_PIXELS``. Pillow's own decompression-bomb check (a warning above
``PIL.Image.MAX_IMAGE_PIXELS``, an error above twice that) is turned into the same one-line error.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from analysis.data.common import DataError, DataNotFoundError, DataSplit
from analysis.validate import check_optional_positive_int, check_positive_int

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS_ENV",
    "ImageFolderDataset",
    "load_image_folder",
    "max_image_pixels",
]

# ImageNet statistics used by every torchvision / timm pretrained model (torchvision documentation,
# "All pre-trained models expect input images normalized ... mean = [0.485, 0.456, 0.406] ...").
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")

#: Largest width x height decoded (from the header, before decoding) unless raised: 40 megapixels.
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
#: Environment variable that raises (or lowers) the pixel limit for every image folder, e.g. for the CLI.
MAX_PIXELS_ENV = "ONESPIKE_MAX_IMAGE_PIXELS"
_RAISE_LIMIT = (
    f"if the file is genuine, raise the limit with load_image_folder(..., max_pixels=N) or the environment "
    f"variable {MAX_PIXELS_ENV}=N"
)
# What Pillow raises for a damaged or truncated file, besides OSError (UnidentifiedImageError is one).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)


def max_image_pixels(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels`` if given, else ``$ONESPIKE_MAX_IMAGE_PIXELS``, else the default."""
    if max_pixels is not None:
        return check_positive_int("max_pixels", max_pixels)
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise DataError(
            f"environment variable {MAX_PIXELS_ENV}={raw!r} is not a positive whole number of pixels; "
            f"unset it (default {DEFAULT_MAX_IMAGE_PIXELS}) or set e.g. {MAX_PIXELS_ENV}=100000000"
        )
    return value


def _open_image(path: str | Path, limit: int):  # -> PIL.Image.Image, header read, pixels not decoded
    from PIL import Image

    try:
        # Pillow warns above MAX_IMAGE_PIXELS; our own limit, checked next, decides instead.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as exc:
        pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        if limit < pillow_limit:
            raise DataError(
                f"refused image {path}: its header claims more than {pillow_limit:,} pixels, over the limit of "
                f"{limit:,} pixels (a decompression bomb?); {_RAISE_LIMIT}"
            ) from None
        raise DataError(
            f"refused image {path}: {exc} Pillow refuses it below our limit of {limit:,} pixels; raise "
            "PIL.Image.MAX_IMAGE_PIXELS as well"
        ) from None
    except _DECODE_ERRORS as exc:
        raise DataError(f"cannot read image {path}: {type(exc).__name__}: {exc}") from exc
    w, h = img.size
    if w * h > limit:
        img.close()
        raise DataError(
            f"refused image {path}: {w}x{h} = {w * h:,} pixels (from its header, not decoded) is over the limit "
            f"of {limit:,} pixels; {_RAISE_LIMIT}"
        )
    return img


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
    try:
        return _scan_classes(split_dir)
    except OSError as exc:  # unreadable folder, a class folder removed while scanning, ...
        raise DataError(f"cannot list image folder {split_dir}: {exc}; check that it is readable") from exc


def _scan_classes(split_dir: Path) -> dict[str, list[Path]]:
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
        max_pixels: int | None = None,
    ) -> None:
        self.samples = list(samples)
        self.classes = tuple(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.image_size = check_positive_int("image_size", image_size)
        # 256 for 224 is the standard ImageNet evaluation ratio (crop 87.5% of the resized image).
        self.resize = check_positive_int("resize", resize if resize is not None else round(image_size * 256 / 224))
        if self.resize < self.image_size:
            raise ValueError(f"resize ({self.resize}) must be at least image_size ({self.image_size})")
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.augment = bool(augment)
        # None: the limit in force when an image is read (ONESPIKE_MAX_IMAGE_PIXELS or the default).
        self.max_pixels = None if max_pixels is None else check_positive_int("max_pixels", max_pixels)

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, path: str | Path) -> Tensor:
        """The transformed image at ``path``: float32 ``[3, image_size, image_size]``, normalised."""
        from PIL import Image

        limit = max_image_pixels(self.max_pixels)
        with _open_image(path, limit) as img:
            w, h = img.size
            # As torchvision's Resize(int): the shorter side becomes `resize`, the other keeps the
            # aspect ratio (truncated), so crops match published evaluation pipelines.
            new_w, new_h = (
                (self.resize, int(self.resize * h / w)) if w <= h else (int(self.resize * w / h), self.resize)
            )
            if new_w * new_h > limit:
                raise DataError(
                    f"refused image {path}: resizing its {w}x{h} pixels to shorter side {self.resize} gives "
                    f"{new_w}x{new_h} = {new_w * new_h:,} pixels, over the limit of {limit:,} pixels; {_RAISE_LIMIT}"
                )
            try:
                rgb = img.convert("RGB")
                if (new_w, new_h) != (w, h):
                    rgb = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
                pixels = np.asarray(rgb, dtype=np.uint8)
            except _DECODE_ERRORS as exc:
                raise DataError(f"cannot read image {path}: {type(exc).__name__}: {exc}") from exc
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
    max_pixels: int | None = None,
) -> DataSplit:
    """An ImageNet-style tree ``root/train/<class>/*`` and ``root/val/<class>/*`` as lazy data sets.

    Classes are the train class folders sorted by name, label = position; val uses the same
    ``class_to_idx`` (a val class missing from train is a :class:`DataError`). Returns a
    :class:`DataSplit` of two :class:`ImageFolderDataset` (test = val) giving float32 ``[3, image_size,
    image_size]`` images normalised with :data:`IMAGENET_MEAN`/:data:`IMAGENET_STD`; ``resize`` defaults
    to ``round(image_size * 256 / 224)``. ``subset`` keeps the first n samples of each split in
    class-interleaved order; ``augment`` applies to train only. ``max_pixels`` bounds the pixels of an
    image before and after resizing (default: ``$ONESPIKE_MAX_IMAGE_PIXELS`` or
    :data:`DEFAULT_MAX_IMAGE_PIXELS`); a larger image is a :class:`DataError` when it is indexed.
    """
    image_size = check_positive_int("image_size", image_size)
    subset = check_optional_positive_int("subset", subset)
    if root is None:
        raise DataNotFoundError(f"{name} needs a data folder (root=None given); {_IMAGENET_HELP}")
    root = Path(root).expanduser()
    if root.is_file():
        raise DataError(f"{name} data folder {root} is a file, not a folder; {_IMAGENET_HELP}")
    if not root.is_dir():
        raise DataNotFoundError(f"{name} data folder {root} does not exist; {_IMAGENET_HELP}")
    if root.name in ("train", "val") and not (root / "train").is_dir() and (root.parent / "train").is_dir():
        raise DataNotFoundError(
            f"{name} data folder {root} is itself a split folder; pass its parent {root.parent}, which holds "
            "both train/ and val/"
        )
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
    max_pixels = None if max_pixels is None else check_positive_int("max_pixels", max_pixels)
    common = {"image_size": image_size, "resize": resize, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
              "max_pixels": max_pixels}
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

