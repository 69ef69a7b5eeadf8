"""Synthetic data: random but learnable images (class prototypes plus noise), no files needed."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from analysis.data.common import DataSplit, tensor_split
from analysis.validate import check_positive_int

__all__ = ["synthetic_split"]


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
    num_classes = check_positive_int("num_classes", num_classes)
    in_channels = check_positive_int("in_channels", in_channels)
    image_size = check_positive_int("image_size", image_size)
    n_train = check_positive_int("n_train", n_train)
    n_test = check_positive_int("n_test", n_test)
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
    return tensor_split(
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

