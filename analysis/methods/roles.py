"""The part a method plays in the study's questions (:class:`Role`), read from its registered
properties, never from its name: the IF SNN's part is any spiking method converted on T from a
quantized parent, so a method a user registers with the same properties takes the same part in every
question (:func:`with_role`, :func:`first_with_role`, :func:`roles_of`).
"""

from __future__ import annotations

from collections.abc import Iterable

from analysis.methods.registry import METHODS, get_method
from analysis.methods.spec import MethodSpec
from analysis.snn.vocabulary import StepAxis, Word

__all__ = ["Role", "first_with_role", "roles_of", "with_role"]


class Role(Word):
    """The part a method plays in the study's questions, read from its properties (never its name),
    so a method a user registers with the same properties takes the same part.

    ``REFERENCE``: no parent (the float ANN every gain is stated against). ``QUANTIZED_PARENT``: fine-
    tuned with quantized activations and the parent a registered spiking method is converted from
    (QCFS: Q1, Q4, Q7, Q10, Q13 compare against it). ``TIME_CONVERSION``: a spiking network converted,
    not trained, from a quantized parent, stepping on T (the IF SNN: Q2, Q4, Q7, Q9, Q10).
    ``GROUP_CONVERSION``: the same on G (OneSpike: Q1, Q2, Q5, Q9, Q11-Q13). ``BINARY``: trained as a
    binary network (the BNN: Q13).
    """

    REFERENCE = "reference"
    QUANTIZED_PARENT = "quantized parent"
    TIME_CONVERSION = "time conversion"
    GROUP_CONVERSION = "group conversion"
    BINARY = "binary"


def _converted_on(spec: MethodSpec) -> StepAxis | None:
    """The axis ``spec`` is a spiking conversion on (untrained, from a quantized parent), else None."""
    if not spec.spiking or spec.trained or spec.parent is None or spec.parent not in METHODS:
        return None
    return spec.steps if get_method(spec.parent).trains_quantized else None


def roles_of(name: str) -> frozenset[Role]:
    """The roles of the method called ``name`` (see :class:`Role`)."""
    spec = get_method(name)
    roles = set()
    if spec.parent is None:
        roles.add(Role.REFERENCE)
    if spec.trains_quantized and any(s.parent == name and _converted_on(s) for _, s in METHODS.items()):
        roles.add(Role.QUANTIZED_PARENT)
    if spec.trains_binary:
        roles.add(Role.BINARY)
    axis = _converted_on(spec)
    if axis is not None:
        roles.add(Role.TIME_CONVERSION if axis is StepAxis.TIME else Role.GROUP_CONVERSION)
    return frozenset(roles)


def with_role(role: Role | str, among: Iterable[str] | None = None) -> list[str]:
    """The registered methods (of ``among``, when given) that play ``role``, in registry order: ask
    ``with_role(Role.TIME_CONVERSION, run_methods)`` where a question needs the IF SNN."""
    role = Role.parse(role, "role")
    chosen = None if among is None else {str(name) for name in among}
    return [name for name in METHODS.names() if (chosen is None or name in chosen) and role in roles_of(name)]


def first_with_role(role: Role | str, among: Iterable[str] | None = None) -> str | None:
    """The first of :func:`with_role` (the built-in method where it is among them), or None."""
    found = with_role(role, among)
    return found[0] if found else None
