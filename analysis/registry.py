"""The toolkit's one registry type (:mod:`energy_models.keyed`, on the bottom floor so that the
hardware models' registry uses it too), under the name the analysis packages import it by."""

from energy_models.keyed import DuplicateNameError, Registry, TypeRegistry, unknown_name_message

__all__ = ["DuplicateNameError", "Registry", "TypeRegistry", "unknown_name_message"]
