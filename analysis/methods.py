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

How a method is built (``build(parent, steps=..., levels=..., **options)``) from the network of the
method it descends from (``parent``; the ANN, or the quantized ANN for the spiking methods):

========== ========== ================================================================================
method     parent     network
========== ========== ================================================================================
``ann``    (trained)  the full-precision ANN (ReLU), FP32 weights
``int8``   ``ann``    the ANN post-training quantized: 8-bit per-channel weights, 8-bit activations (255
                      steps, clip at the 99.99th percentile of training pre-activations)
``qcfs``   ``ann``    ReLU -> QCFS with L levels (shift ½), then fine-tuned (``training="quantized"``)
``cq``     ``ann``    ReLU -> clamp-and-quantize with L levels (no shift), fine-tuned
``if``     ``qcfs``   T-step IF SNN (θ = λ, v_init = φ, reset by subtraction)
``onespike`` ``qcfs`` OneSpike(G): PSG layers, G groups in one timestep
``bnn``    ``ann``    sign activations, binary hidden weights (XNOR-Net α), trained (``training="binary"``)
========== ========== ================================================================================

Weight width: every evaluated network is counted with the weights it holds (the study quantizes each
deploy form per channel, ``analysis.snn.quantize_weights``); ``MethodSpec.weight_bits`` is the width a
method *requests*: 32 (float: the ANN), a fixed width (8: the INT8 ANN), or None (the study's
``weight_bits``, default 8). A BNN's binary layers are 1 bit whatever is requested.

Directly trained SNNs (``training="direct"``: surrogate gradients, BPTT over T, trained from scratch
in the ANN's shape, once per T; :mod:`analysis.study.direct`), and OneSpike made from them:

================== ============== ====================================================================
``direct_if``      ``ann`` shape  T-step IF SNN (soft reset), every ReLU an IF neuron, trained directly
``direct_lif``     ``ann`` shape  T-step LIF SNN (λ = 0.5, hard reset to 0: SpikingJelly's LIFNode(τ=2)
                                  default), trained directly
``direct_if_psg``  ``direct_if``  OneSpike(G = T) with the SNN's own thresholds (PSG)
``direct_lif_psg`` ``direct_lif`` OneSpike(G = T) with the SNN's own thresholds (PSG keeps no leak and
                                  resets by subtraction: Q14 measures what that costs)
================== ============== ====================================================================

A SpikingJelly, snnTorch, Norse or Sinabs network (or one with a neuron of the user's own that
carries a threshold and a membrane) is a directly trained SNN too: counted, it is ``direct_lif`` when
one of its neurons leaks (or is not recognised), else ``direct_if``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from torch import nn

from analysis.palette import EXTRA_METHOD_COLORS, OKABE_ITO, TOL_MUTED
from analysis.registry import Registry
from analysis.snn.context import fold_batchnorm
from analysis.snn.convert import to_binary, to_if_snn, to_onespike, to_quantized
from analysis.snn.frameworks import framework_leaks, is_framework_neuron, looks_like_neuron
from analysis.snn.lif import LIFNeuron
from analysis.snn.neurons import QCFS, BinaryActivation, BinaryConv2d, BinaryLinear, IFNeuron, PSGNeuron
from analysis.snn.onestep import DirectSNN, framework_form, spiking_from_ann
from analysis.snn.quantize import FLOAT_WEIGHT_BITS, ActivationQuant, to_int8
from analysis.snn.vocabulary import QuantizerKind, SpikingForm, StepAxis, Word

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

Builder = Callable[..., nn.Module]


class Method:
    """The built-in methods' names, written once (``Method.IF`` is the string ``"if"``). A method a
    user registers has its own name; every name is a plain string in tables, ledgers and configs."""

    ANN: Final = "ann"
    INT8: Final = "int8"
    QCFS: Final = QuantizerKind.QCFS.value
    CQ: Final = QuantizerKind.CQ.value
    IF: Final = SpikingForm.IF.value
    ONESPIKE: Final = SpikingForm.ONESPIKE.value
    BNN: Final = "bnn"
    DIRECT_IF: Final = "direct_if"
    DIRECT_LIF: Final = "direct_lif"
    DIRECT_IF_PSG: Final = "direct_if_psg"
    DIRECT_LIF_PSG: Final = "direct_lif_psg"


class TrainingKind(Word):
    """How a method gets its weights: trained as a full-precision ANN, fine-tuned with quantized
    activations from its parent, trained as a binary network, or trained directly as a T-step SNN
    (surrogate gradients, BPTT over T; once per T, from scratch in its parent's shape)."""

    FULL_PRECISION = "ann"
    QUANTIZED = "quantized"
    BINARY = "binary"
    DIRECT = "direct"


def _vocabulary(kind: type[Word], field_name: str, value: object) -> Word | None:
    if value is None:
        return None
    try:
        return kind.parse(value, field_name)
    except ValueError:
        raise ValueError(f"MethodSpec {field_name} must be one of {kind.accepted()} or None, got {value!r}") from None


@dataclass(frozen=True)
class MethodSpec:
    """One method of the study.

    ``steps``: a :class:`StepAxis` (``"T"``, sequential timesteps; ``"G"``, parallel groups in one
    timestep) or ``None`` (one pass, no steps). ``parent``: the method whose trained network this
    one is built from (None for the ANN). ``training``: a :class:`TrainingKind` (``"ann"``, trained
    from scratch; ``"quantized"``, fine-tuned with quantized activations; ``"binary"``, trained as a
    BNN) or ``None`` (converted, not trained). Strings are accepted and stored as the enums.
    ``quantized``: its activations have L levels (their width is ceil(log2(L+1)) bits).
    ``act_levels``: activation levels fixed by the method whatever the study's L (the INT8 ANN: 255).
    ``weight_bits``: the weight width the method requests (see the module docstring: None takes the
    study's); the counter reads the width from the network, never from here. ``vmem_bits``: the
    counter's default membrane width (``count_events(vmem_bits=...)``).
    ``needs_calibration``: ``build`` takes ``calibration_data`` (training images).
    """

    name: str
    label: str
    short: str
    color: str
    build: Builder
    parent: str | None = None
    training: TrainingKind | None = None
    spiking: bool = False
    steps: StepAxis | None = None
    quantized: bool = False
    act_levels: int | None = None
    weight_bits: int | None = None
    vmem_bits: int = 0
    needs_calibration: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    #: Whether a module marks a network as this method: the counter infers an unnamed model's method
    #: as the last-registered method whose ``detect`` matches one of its modules (the first method
    #: without a detector, the ANN, when none does).
    detect: Callable[[nn.Module], bool] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", _vocabulary(StepAxis, "steps", self.steps))
        object.__setattr__(self, "training", _vocabulary(TrainingKind, "training", self.training))

    @property
    def trained(self) -> bool:
        """Whether the method has its own training stage and checkpoint."""
        return self.training is not None

    @property
    def trains_quantized(self) -> bool:
        """Fine-tuned from its parent with quantized activations (QCFS, clamp-and-quantize)."""
        return self.training is TrainingKind.QUANTIZED

    @property
    def trains_binary(self) -> bool:
        """Trained as a binary network (trained to its plateau)."""
        return self.training is TrainingKind.BINARY

    @property
    def trains_directly(self) -> bool:
        """Trained directly as a T-step SNN, once per T, in its parent's shape (not its weights)."""
        return self.training is TrainingKind.DIRECT

    @property
    def stepped(self) -> bool:
        """Runs T timesteps or G groups (the study sweeps its steps)."""
        return self.steps is not None

    @property
    def is_time_stepped(self) -> bool:
        """Runs T sequential timesteps (the IF SNN)."""
        return self.steps is StepAxis.TIME

    @property
    def is_group_parallel(self) -> bool:
        """Runs G parallel groups in one timestep (OneSpike)."""
        return self.steps is StepAxis.GROUPS

    def sequential_steps(self, steps: int) -> int:
        """Sequential timesteps of one inference with ``steps`` = T or G."""
        return int(steps) if self.is_time_stepped else 1

    def parallel_groups(self, steps: int) -> int:
        """Parallel groups of one inference with ``steps`` = T or G."""
        return int(steps) if self.is_group_parallel else 1

    def requested_weight_bits(self, study_bits: int) -> int:
        """The width this method's (non-binary) weights are quantized to in a study whose
        ``weight_bits`` is ``study_bits``: the method's own when it fixes one, else the study's."""
        return int(study_bits if self.weight_bits is None else self.weight_bits)

    def act_bits(self, levels: int) -> int:
        """Width of one activation leaving a layer: 1 for spikes, ceil(log2(L+1)) for an L-level
        quantized activation (``act_levels`` when the method fixes them), 32 for a float one."""
        if self.spiking:
            return 1
        if self.act_levels is not None:
            return max(1, math.ceil(math.log2(self.act_levels + 1)))
        if self.quantized:
            return max(1, math.ceil(math.log2(levels + 1)))
        return 1 if self.trains_binary else 32

    def display(self, steps: int | None = None) -> str:
        """A short label with the step count: ``IF(T=4)``, ``OneSpike(G=4)``, ``QCFS``."""
        if self.steps is None or steps is None:
            return self.short
        return f"{self.short}({self.steps}={steps})"


#: The method registry (name -> :class:`MethodSpec`).
METHODS: Registry[MethodSpec] = Registry("method")


def register_method(spec: MethodSpec, replace: bool = False) -> MethodSpec:
    """Add a method (refused when the name is taken, unless ``replace=True``)."""
    return METHODS.add(spec.name, spec, replace=replace)


def get_method(name: str) -> MethodSpec:
    """The method called ``name`` (a clear error with a did-you-mean otherwise)."""
    return METHODS.get(name)


def method_names() -> list[str]:
    """Registered method names, in registration order (the order tables and figures use)."""
    return METHODS.names()


def spiking_method_names() -> list[str]:
    return [name for name, spec in METHODS.items() if spec.spiking]


def methods_on_axis(axis: StepAxis | str) -> list[str]:
    """Registered methods whose steps run on ``axis`` (``"T"`` or ``"G"``), in registry order."""
    axis = StepAxis.parse(axis, "axis")
    return [name for name, spec in METHODS.items() if spec.steps is axis]


def reference_method() -> str:
    """The method every other descends from (no parent): the full-precision ANN, against which
    accuracy and energy gains are stated."""
    return next(name for name, spec in METHODS.items() if spec.parent is None)


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


def infer_method(model: nn.Module) -> MethodSpec:
    """The method a network belongs to, from its module types (see ``MethodSpec.detect``)."""
    modules = list(model.modules())
    specs = [spec for _, spec in METHODS.items()]
    for spec in reversed(specs):
        if spec.detect is not None and any(spec.detect(m) for m in modules):
            return spec
    return next(spec for spec in specs if spec.detect is None)


def _same(parent: nn.Module, **_: Any) -> nn.Module:
    """The ANN is its own network (trained from scratch)."""
    return parent


def _quantized(kind: QuantizerKind) -> Builder:
    def build(parent: nn.Module, levels: int = 4, **_: Any) -> nn.Module:
        return to_quantized(parent, levels, kind, calibrated_later=True)  # trained (or calibrated) next

    build.__doc__ = f"ReLU -> {kind} with ``levels`` levels (weights copied from the ANN)."
    return build


def _int8(parent: nn.Module, calibration_data=None, **_: Any) -> nn.Module:
    """The ANN with 8-bit activations calibrated on ``calibration_data`` (give ``parent`` with its
    weights already quantized: the study passes the ANN's deploy form at 8 bits)."""
    if calibration_data is None:
        raise ValueError("the int8 method calibrates its activation ranges: pass calibration_data (training images)")
    return to_int8(parent, calibration_data)


def _binary(parent: nn.Module, **_: Any) -> nn.Module:
    return to_binary(parent)


def _if(parent: nn.Module, steps: int = 4, levels: int | None = None, **options: Any) -> nn.Module:
    # levels are the parent's (a spiking network's levels are its steps): not an option of the SNN
    return to_if_snn(parent, steps, **options)


def _onespike(parent: nn.Module, steps: int = 4, levels: int | None = None, **options: Any) -> nn.Module:
    return to_onespike(parent, steps, **options)


def _direct(decay: float, v_reset: float | None) -> Builder:
    def build(parent: nn.Module, steps: int = 4, levels: int | None = None, example: Any = None,
              **_: Any) -> DirectSNN:
        if any(is_framework_neuron(m) for m in parent.modules()):
            return framework_form(parent, steps, example)
        return spiking_from_ann(parent, steps, decay=decay, v_reset=v_reset)

    build.__doc__ = (f"The T-step SNN to train directly: every ReLU of ``parent`` (the ANN's shape) a neuron with "
                     f"decay {decay} and {'soft reset' if v_reset is None else f'hard reset to {v_reset}'}, with "
                     "surrogate gradients; a SpikingJelly/snnTorch ``parent`` keeps its own neurons (``example``: "
                     "images, for a network written as its own forward).")
    return build


def _direct_onespike(parent: nn.Module, steps: int = 4, levels: int | None = None, **options: Any) -> nn.Module:
    # PSG with the directly trained SNN's own thresholds; a spike is worth 1, as it was in training. Batch
    # norm folded as in the SNN's deploy form (to_if_snn folds it): to_onespike keeps the batch norms of
    # a body with spiking neurons, which would price a mul and an add per element and group that the SNN
    # does not pay.
    body = parent.body if isinstance(parent, DirectSNN) else parent
    return to_onespike(fold_batchnorm(body), steps, **options)


def _foreign_neuron(m: nn.Module) -> bool:
    """A spiking neuron from another framework or a user's own (recognised or not): the network
    spikes, so it is never counted as an ANN."""
    return is_framework_neuron(m) or (looks_like_neuron(m) and not type(m).__module__.startswith("analysis."))


def _leaky(m: nn.Module) -> bool:
    return (isinstance(m, LIFNeuron) and m.leaky) or (_foreign_neuron(m) and framework_leaks(m))


for _spec in (
    MethodSpec(Method.ANN, "ANN (float)", "ANN", OKABE_ITO["black"], _same, training=TrainingKind.FULL_PRECISION,
               weight_bits=FLOAT_WEIGHT_BITS),
    MethodSpec(Method.INT8, "INT8 ANN", "INT8", EXTRA_METHOD_COLORS["dark_grey"], _int8, parent=Method.ANN,
               act_levels=255, weight_bits=8, needs_calibration=True, detect=lambda m: isinstance(m, ActivationQuant)),
    MethodSpec(Method.QCFS, "QCFS (L levels)", "QCFS", OKABE_ITO["bluish_green"], _quantized(QuantizerKind.QCFS),
               parent=Method.ANN, training=TrainingKind.QUANTIZED, quantized=True,
               detect=lambda m: isinstance(m, QCFS) and bool(m.shift) and not isinstance(m, ActivationQuant)),
    MethodSpec(Method.CQ, "clamp-quant (L)", "CQ", OKABE_ITO["sky_blue"], _quantized(QuantizerKind.CQ),
               parent=Method.ANN, training=TrainingKind.QUANTIZED, quantized=True,
               detect=lambda m: isinstance(m, QCFS) and not m.shift),
    MethodSpec(Method.IF, "IF SNN (T steps)", "IF", OKABE_ITO["vermillion"], _if, parent=Method.QCFS, spiking=True,
               steps=StepAxis.TIME, vmem_bits=16, detect=lambda m: isinstance(m, IFNeuron)),
    MethodSpec(Method.ONESPIKE, "OneSpike (G groups)", "OneSpike", OKABE_ITO["blue"], _onespike, parent=Method.QCFS,
               spiking=True, steps=StepAxis.GROUPS, vmem_bits=16, detect=lambda m: isinstance(m, PSGNeuron)),
    MethodSpec(Method.BNN, "BNN", "BNN", TOL_MUTED["indigo"], _binary, parent=Method.ANN,
               training=TrainingKind.BINARY,
               detect=lambda m: isinstance(m, BinaryActivation | BinaryConv2d | BinaryLinear)),
    MethodSpec(Method.DIRECT_IF, "IF SNN, trained directly (T steps)", "dIF", OKABE_ITO["orange"], _direct(1.0, None),
               parent=Method.ANN, training=TrainingKind.DIRECT, spiking=True, steps=StepAxis.TIME, vmem_bits=16,
               detect=lambda m: isinstance(m, LIFNeuron) or _foreign_neuron(m)),
    MethodSpec(Method.DIRECT_LIF, "LIF SNN, trained directly (T steps)", "dLIF", EXTRA_METHOD_COLORS["dark_orange"],
               _direct(0.5, 0.0), parent=Method.ANN, training=TrainingKind.DIRECT, spiking=True, steps=StepAxis.TIME,
               vmem_bits=16, detect=_leaky),
    MethodSpec(Method.DIRECT_IF_PSG, "OneSpike from direct IF (G groups)", "dIF→PSG", OKABE_ITO["reddish_purple"],
               _direct_onespike, parent=Method.DIRECT_IF, spiking=True, steps=StepAxis.GROUPS, vmem_bits=16),
    MethodSpec(Method.DIRECT_LIF_PSG, "OneSpike from direct LIF (G groups)", "dLIF→PSG",
               EXTRA_METHOD_COLORS["dark_reddish_purple"],
               _direct_onespike, parent=Method.DIRECT_LIF, spiking=True, steps=StepAxis.GROUPS, vmem_bits=16),
):
    register_method(_spec)
