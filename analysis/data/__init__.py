"""Data sets: digits (embedded default), CIFAR-10/100 and ImageNet-style folders from local disk, synthetic.

Nothing here downloads. Every loader returns a :class:`DataSplit` whose ``train``/``test`` items are
``(image, label)`` pairs: ``image`` a float32 tensor ``[C, H, W]``, ``label`` a 0-dim int64 tensor.
Missing or malformed data raises :class:`DataError` naming the folder or file, the layout expected and
how to obtain it.

One module per source, in the order data flows:

- :mod:`~analysis.data.common`: :class:`DataSplit`, the errors, augmentation and resizing helpers;
- :mod:`~analysis.data.digits`: scikit-learn's 8x8 digits (no files needed);
- :mod:`~analysis.data.safe_pickle` and :mod:`~analysis.data.cifar`: CIFAR batches are Python pickles,
  read with a restricted unpickler that resolves only the numpy globals a real batch refers to;
- :mod:`~analysis.data.folders`: ImageNet-style ``train/<class>/`` + ``val/<class>/`` trees, read
  lazily, with a pixel limit checked from each image header before decoding;
- :mod:`~analysis.data.synthetic`: random but learnable data;
- :mod:`~analysis.data.events`: event data made from the digits (ON/OFF frames ``[T, 2, H, W]``);
- :mod:`~analysis.data.nmnist`: N-MNIST recordings from a local folder (``tonic``), binned into T frames;
- :mod:`~analysis.data.registry`: :func:`load_dataset`, :func:`register_dataset`, :data:`DATASETS`.

Entry point::

    split = load_dataset("digits")                       # no files needed
    split = load_dataset("cifar10", "~/data/cifar-10-batches-py", subset=512)
    split = load_dataset("imagenet", "~/data/ILSVRC2012", image_size=224)
"""

from analysis.data.cifar import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    load_cifar,
    read_cifar_batch,
)
from analysis.data.common import AugmentedTensorDataset, DataError, DataNotFoundError, DataSplit, random_crop_flip
from analysis.data.digits import load_digits_split
from analysis.data.events import DIRECTIONS, event_frames, load_moving_digits, moving_digit_videos
from analysis.data.folders import (
    IMAGE_EXTENSIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageFolderDataset,
    load_image_folder,
)
from analysis.data.nmnist import load_nmnist, read_nmnist_events
from analysis.data.registry import DATASETS, available_datasets, load_dataset, register_dataset
from analysis.data.synthetic import synthetic_split

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "DATASETS",
    "DIRECTIONS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "AugmentedTensorDataset",
    "DataError",
    "DataNotFoundError",
    "DataSplit",
    "ImageFolderDataset",
    "available_datasets",
    "event_frames",
    "load_cifar",
    "load_dataset",
    "load_digits_split",
    "load_image_folder",
    "load_moving_digits",
    "load_nmnist",
    "moving_digit_videos",
    "random_crop_flip",
    "read_cifar_batch",
    "read_nmnist_events",
    "register_dataset",
    "synthetic_split",
]
