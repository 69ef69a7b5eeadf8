"""Facts of one ledger layer that every pricing reads (shapes, widths, what feeds what), and the
event-kind sets: the low floor of :mod:`energy_models`, beside the event vocabulary of
:mod:`energy_models.ledger`. Pure functions of a record (or of a record and its ledger); no prices.

``analysis`` imports :data:`SYNAPTIC_KINDS` from here (through ``energy_models``): one set of the
layer kinds that hold synapses for the whole toolkit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from energy_models.ledger import EventLedger, LayerEvents

#: Layer kinds holding synapses (weights): the layers a synaptic operation (``mac``, ``ac``, ``xnor``) belongs to.
SYNAPTIC_KINDS: tuple[str, ...] = ("conv", "linear")
#: Layer kinds whose ``add`` events are summations of other layers' outputs (pooling, residual shortcuts).
SUMMING_KINDS: tuple[str, ...] = ("pool", "add")
#: Event names that describe data movement (priced by models from shape facts, with their own reuse).
MEMORY_EVENTS: tuple[str, ...] = ("weight_reads", "input_reads", "output_writes", "vmem_reads", "vmem_writes")
#: Event names of a neuron's own logic (membrane update, threshold, PSG's running sum, modulus and shift).
NEURON_OP_EVENTS: tuple[str, ...] = ("add", "cmp", "shift", "mask", "mul", "mod")
#: Event names of a synaptic layer's arithmetic.
SYNAPTIC_EVENTS: tuple[str, ...] = ("mac", "ac", "xnor", "popcount")
#: Operand width at and above which a layer whose weights and activations are both this wide is a
#: floating-point (FP32) layer: its arithmetic and its stored pre-activations are 32-bit floats.
FLOAT_BITS = 32


def prod(values: Iterable[float]) -> float:
    out = 1.0
    for v in values:
        out *= float(v)
    return out


def spatial(shape: Sequence[int]) -> float:
    """H*W of a (C, H, W) shape; 1 for (F,) or an empty shape."""
    return prod(shape[1:]) if len(shape) >= 2 else 1.0


def in_elements(layer: LayerEvents) -> float:
    """Input values per sample per step (from ``in_shape``; else ``in_channels``)."""
    return prod(layer.in_shape) if layer.in_shape else float(layer.in_channels)


def out_elements(layer: LayerEvents) -> float:
    """Output values per sample per step (from ``out_shape``; else ``neurons``)."""
    return prod(layer.out_shape) if layer.out_shape else float(layer.neurons)


def kernel_area(layer: LayerEvents) -> float:
    """k_h * k_w of a conv layer (1 for a linear layer or when not recorded)."""
    return prod(layer.kernel_size) if layer.kernel_size else 1.0


def weight_count(layer: LayerEvents) -> float:
    """Weights of the layer: ``synapses``, else C_in * C_out * k_h * k_w."""
    if layer.synapses > 0:
        return layer.synapses
    return float(layer.in_channels * layer.out_channels) * kernel_area(layer)


def fan_in(layer: LayerEvents) -> float:
    """Synapses per output neuron: ``synapses / out_channels`` (right for grouped convs too)."""
    if layer.out_channels > 0 and weight_count(layer) > 0:
        return weight_count(layer) / layer.out_channels
    return float(layer.in_channels) * kernel_area(layer)


def dense_ops_per_step(layer: LayerEvents) -> float:
    """Synaptic operations of one step (one group) if every input were non-zero."""
    return out_elements(layer) * fan_in(layer)


def dense_synaptic_ops(layer: LayerEvents) -> float:
    """Synaptic ops of ``layer`` if every input of every step/group were non-zero."""
    return dense_ops_per_step(layer) * layer.timesteps * layer.groups


def steps(layer: LayerEvents) -> int:
    """Sequential timesteps x parallel groups the layer ran."""
    return int(layer.timesteps) * int(layer.groups)


def spike_input(layer: LayerEvents) -> bool:
    """Whether the layer's input is a spike train (recorded flag, or ACs without MACs)."""
    return bool(layer.input_spiking or (layer.ac > 0 and layer.mac == 0))


def active_input_fraction(layer: LayerEvents) -> float | None:
    """Fraction of input values that were non-zero (over steps/groups); None if not recorded."""
    if layer.input_elements <= 0:
        return None
    return min(1.0, layer.input_nonzero / layer.input_elements)


def bits(value: int, default: float) -> float:
    """A recorded bit width, or ``default`` where the ledger left it 0."""
    return float(value) if value and value > 0 else float(default)


def is_float_operands(weight_bits: float, act_bits: float) -> bool:
    """Whether operands of these widths are floating point (both :data:`FLOAT_BITS` or wider)."""
    return weight_bits >= FLOAT_BITS and act_bits >= FLOAT_BITS


def is_float_layer(layer: LayerEvents) -> bool:
    """Whether the layer computes in floating point: weights and activations both recorded at
    :data:`FLOAT_BITS` or more (an FP32 ANN layer). Its stored pre-activation is a 32-bit float."""
    return layer.weight_bits >= FLOAT_BITS and layer.act_bits >= FLOAT_BITS


def reuse_repeats(ledger: EventLedger, layer: LayerEvents) -> tuple[int, bool]:
    """How many steps or groups reuse ``layer``'s output although it was counted once, and whether
    they run one after the other.

    The counter sets ``repeat_steps`` on a layer counted once whose output every step or group reuses
    (the analog first layer): T for an IF network, whose steps are sequential (ledger ``timesteps`` =
    T), G for OneSpike, whose groups are parallel work of one timestep. A design that recomputes the
    layer for each reuse (``first_layer="per_step"``, SpikeSim's reference) runs it that many times,
    for either network alike. Keyed on ledger facts, never on a method name."""
    if layer.repeat_steps <= 1:
        return 1, False
    sequential = int(ledger.timesteps) > int(layer.timesteps)
    return int(layer.repeat_steps), sequential


def consumer(ledger: EventLedger, index: int) -> LayerEvents | None:
    """The neuron/activation record that consumes synaptic layer ``index``'s output: the record named
    by its ``fused_into``, else the first ``neuron`` record after it before the next synaptic layer."""
    layer = ledger.layers[index]
    if layer.fused_into:
        for other in ledger.layers:
            if other.name == layer.fused_into:
                return other
    for other in ledger.layers[index + 1:]:
        if other.kind in SYNAPTIC_KINDS:
            return None
        if other.kind == "neuron":
            return other
    return None


def feeds_membrane(ledger: EventLedger, index: int) -> bool:
    """Whether synaptic layer ``index``'s output current is integrated into a membrane potential
    (its consumer emits spikes or keeps membrane state): a ledger fact, not a method name."""
    after = consumer(ledger, index)
    return after is not None and (after.output_spiking or after.vmem_reads + after.vmem_writes > 0)


def fused_activation_bits(ledger: EventLedger, layer: LayerEvents, fused: bool) -> float | None:
    """Width at which ``layer``'s output leaves the PE when its activation is fused into the PE output
    (``fused_into`` set and the ``fused`` convention on): the consuming activation's ``out_bits``.
    None when the output is not fused: it is then a stored pre-activation (a partial sum)."""
    if fused and layer.fused_into:
        for other in ledger.layers:
            if other.name == layer.fused_into and other.out_bits > 0:
                return float(other.out_bits)
    return None


def fused_input(ledger: EventLedger, layer: LayerEvents, fused: bool) -> bool:
    """Whether ``layer`` (an activation/neuron) takes its input straight from a fused PE output
    (so its input read is not a memory access)."""
    return fused and any(other.fused_into == layer.name for other in ledger.layers)


def preactivation_bits(layer: LayerEvents, psum_bits: float) -> float:
    """Width at which a model with one stored pre-activation width ``psum_bits`` stores ``layer``'s
    pre-activation (a QNN's partial sum, an SNN's membrane): ``psum_bits`` for every method, except a
    floating-point layer (:func:`is_float_layer`), whose accumulator is a float of its ``out_bits``."""
    if is_float_layer(layer):
        return bits(layer.out_bits, FLOAT_BITS)
    return float(psum_bits)


def network_weight_bytes(ledger: EventLedger, default_bits: float) -> float:
    """Bytes of every weight of the network at the widths the ledger records (``default_bits``
    where a layer records none)."""
    return sum(weight_count(layer) * bits(layer.weight_bits, default_bits) / 8
               for layer in ledger.layers if layer.kind in SYNAPTIC_KINDS)


def float_upstream(ledger: EventLedger, index: int) -> bool:
    """Whether the values at record ``index`` come from a floating-point layer: the nearest synaptic
    layer at or before it is one (:func:`is_float_layer`); False where none precedes it."""
    for layer in reversed(ledger.layers[:index + 1]):
        if layer.kind in SYNAPTIC_KINDS:
            return is_float_layer(layer)
    return False


def stored_bits(ledger: EventLedger, index: int, side: str, psum_bits: float) -> float:
    """Width at which a model with one pre-activation width ``psum_bits`` stores the input (``side``
    ``"in"``) or output (``"out"``) values of the non-synaptic record ``index``: 1 for spikes;
    ``psum_bits`` for a pre-activation (a neuron's input current, or a value the counter records at the
    accumulator width, 32 bits: pooled or summed partial sums, logits) unless the network computes in
    floating point there; the recorded width otherwise (a QNN's ceil(log2(L+1))-bit activations)."""
    if side not in ("in", "out"):
        raise ValueError(f"side = {side!r}; expected 'in' or 'out'")
    layer = ledger.layers[index]
    if layer.input_spiking if side == "in" else layer.output_spiking:
        return 1.0
    recorded = layer.act_bits if side == "in" else layer.out_bits
    preactivation = (side == "in" and layer.kind == "neuron") or recorded >= FLOAT_BITS or recorded <= 0
    if preactivation and not float_upstream(ledger, index):
        return float(psum_bits)
    return bits(recorded, FLOAT_BITS)
