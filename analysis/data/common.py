"""What every data source shares: the result type, the errors, augmentation, resizing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

__all__ = [
    "AugmentedTensorDataset",
    "DataError",
    "DataNotFoundError",
    "DataSplit",
    "in_order",
    "random_crop_flip",
    "resize_images",
    "tensor_split",
]


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
    ``frames``: for event data, the T frames of each sample: items are then ``[frames, in_channels,
    image_size, image_size]`` (binary ON/OFF event frames, see :mod:`analysis.data.events`); ``None``
    for images.
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
    frames: int | None = None


# -- augmentation (torch ops only, no torchvision) ------------------------------------------------------
def in_order(dataset: Dataset, batch_size: int) -> Iterator[tuple[Tensor, ...]]:
    """``dataset`` in batches of ``batch_size``, in order: an in-memory ``TensorDataset`` is sliced
    (the same batches a DataLoader builds by indexing and re-stacking it one sample at a time, bit
    for bit, without the per-sample work); any other dataset goes through a DataLoader."""
    if type(dataset) is not TensorDataset:
        yield from DataLoader(dataset, batch_size=batch_size, shuffle=False)
        return
    n = len(dataset)
    for start in range(0, n, batch_size):
        yield tuple(t[start:start + batch_size] for t in dataset.tensors)


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


def resize_images(images: Tensor, size: int) -> Tensor:
    """Bilinear resize of ``[N, C, H, W]`` to ``[N, C, size, size]`` (antialiased when shrinking)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    shrink = size < min(images.shape[-2:])
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)


def tensor_split(
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

