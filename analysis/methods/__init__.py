"""The one method registry: what each method is, how it is built from the trained weights, how it
runs (sequential timesteps T, parallel groups G, or neither) and its default bit widths.

Study, CLI, counting, figures and report ask this registry; no other module writes a method-name
string: the built-in names are the constants of :class:`Method` (``Method.IF == "if"``, the word of
the spiking form the converter makes), a method's step axis and training kind are the closed
vocabularies :class:`StepAxis` (owned by :mod:`analysis.snn.vocabulary`, re-exported here) and
:class:`TrainingKind`, asked through :class:`MethodSpec` (``spec.is_time_stepped``,
``spec.trains_quantized``). The part a method plays in the study's questions is a :class:`Role` read
from its properties (:func:`with_role`: the IF SNN's part is any spiking method converted on T from a
quantized parent), never from its name. A user adds a method with :func:`register_method` (a
duplicate name is refused unless ``replace=True``).

The package: :mod:`~analysis.methods.spec` (what a method is: :class:`Method`, :class:`TrainingKind`,
:class:`MethodSpec`), :mod:`~analysis.methods.registry` (:data:`METHODS` and the questions asked of
it), :mod:`~analysis.methods.roles` (:class:`Role`), :mod:`~analysis.methods.builtin` (how the
built-in methods are built and recognised, and their registration: importing this package registers
them). Import every name from here.
"""

from analysis.methods import builtin  # noqa: F401  (registers the built-in methods)
from analysis.methods.registry import (
    METHODS,
    get_method,
    infer_method,
    method_names,
    methods_on_axis,
    reference_method,
    register_method,
    spiking_method_names,
)
from analysis.methods.roles import Role, first_with_role, roles_of, with_role
from analysis.methods.spec import Method, MethodSpec, TrainingKind
from analysis.snn.vocabulary import StepAxis

__all__ = [
    "METHODS",
    "Method",
    "MethodSpec",
    "Role",
    "StepAxis",
    "TrainingKind",
    "first_with_role",
    "get_method",
    "infer_method",
    "method_names",
    "methods_on_axis",
    "reference_method",
    "register_method",
    "roles_of",
    "spiking_method_names",
    "with_role",
]
