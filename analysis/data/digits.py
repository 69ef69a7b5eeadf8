"""scikit-learn's 8x8 handwritten digits: the embedded default data set (no files needed)."""

from __future__ import annotations

import numpy as np
import torch

from analysis.data.common import DataSplit, resize_images, tensor_split
from analysis.validate import check_optional_positive_int

__all__ = ["load_digits_split"]


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
    subset = check_optional_positive_int("subset", subset)
    image_size = check_optional_positive_int("image_size", image_size)
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
        x_train = resize_images(x_train, image_size).clamp_(0.0, 1.0)
        x_test = resize_images(x_test, image_size).clamp_(0.0, 1.0)
    return tensor_split(
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

