"""The model zoo: ``build_model(name, num_classes, in_channels, image_size, **options)``.

The registry lives in :mod:`analysis.models.registry`; each family in its own module
(:mod:`~analysis.models.plain`, :mod:`~analysis.models.resnet`, :mod:`~analysis.models.repvgg`),
imported here so that importing the package registers every architecture.
"""

from analysis.models import plain, repvgg, resnet  # noqa: F401  (registers the zoo)
from analysis.models.registry import MODELS, available_models, build_model, register_model
from analysis.models.repvgg import RepVGG, RepVGGBlock
from analysis.models.resnet import BasicBlock

__all__ = ["MODELS", "BasicBlock", "RepVGG", "RepVGGBlock", "available_models", "build_model", "register_model"]
