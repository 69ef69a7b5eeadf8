"""Hand-made ledgers of a small VGG-like network, one per network *style*, for docs, tests, quick
comparisons and the stand-alone :func:`~energy_models.conventions_table`.

A style says how a network computes, never which method it is: the caller names the method
(``vgg_like_ledger("multi_step_snn", method="if", steps=4)``; the method defaults to the style's
name). :func:`vgg_like_ledger` writes the events a counting pass would record for a 4-conv + 1-linear
network on 3x32x32 inputs (stride-2 convs instead of pooling), per sample, from closed-form counts:

- ``dense`` (an FP32 ANN) and ``quantized`` (a QNN with ``act_bits``-bit activations): every
  conv/linear layer ``mac`` = dense ops, of which ``mac_nonzero`` = dense ops x (1 -
  ``act_zero_fraction``) have a non-zero activation (all of them in the first layer: pixels); one
  ``cmp`` per activation, written at ``act_bits`` (32 for ``dense``, whose weights are 32-bit too).
- ``multi_step_snn`` (an IF network, T = ``steps`` sequential timesteps, input firing rate r of every
  spiking layer): the first conv is counted once (``mac`` = dense ops) and its output reused over
  the T steps (``repeat_steps`` = T); later layers ``ac`` = dense ops x T x r; IF neurons integrate
  (``add`` = neurons x T, plus one reset subtraction per spike), compare once per step, read and
  write the membrane once per step, and emit neurons x T x r spikes.
- ``grouped_snn`` (OneSpike, G = ``steps`` parallel groups in one timestep): the first conv runs
  once on the image (``repeat_steps`` = G: reused by the G groups); later layers ``ac`` = dense ops x
  G x r; PSG hardware mode per neuron: G running-sum adds, G masks, G compares, one shift (1/G),
  membrane read and written once.
- ``binary`` (a BNN): the first conv and the classifier full precision (32-bit weights, MACs), the
  others binary: ``xnor`` = ``popcount`` = dense ops at 1-bit weights and inputs, one scaling ``mul``
  per output; sign activations (1 bit).

Every conv accumulates at 32 bits (``out_bits``, as the counter records) and feeds its activation
directly (``fused_into`` = the activation's name). The classifier (last linear layer) does not spike.
Logical memory accesses follow the ledger's convention (before reuse): one weight read and one input
read per operation, one output write per output value.
"""

from __future__ import annotations

from typing import Literal, get_args

from energy_models.checks import check_choice
from energy_models.ledger import EventLedger, LayerEvents

#: How a network computes (a closed set; the method name is the caller's).
NetworkStyle = Literal["dense", "quantized", "multi_step_snn", "grouped_snn", "binary"]
STYLES: tuple[str, ...] = get_args(NetworkStyle)
#: One line per style, for tables.
STYLE_DESCRIPTIONS: dict[str, str] = {
    "dense": "dense FP32 network (32-bit weights and activations)",
    "quantized": "quantized network (8-bit weights, ceil(log2(L+1))-bit activations)",
    "multi_step_snn": "spiking network over T sequential timesteps (analog first layer reused over the T steps)",
    "grouped_snn": "spiking network in one timestep with G parallel groups (analog first layer run once)",
    "binary": "binary network (1-bit weights and activations; first layer and classifier full precision)",
}
#: Example settings per style for :func:`style_examples` (steps = T or G, activation bits).
EXAMPLE_STEPS = 4
EXAMPLE_ACT_BITS = 3

#: (name, C_in, C_out, kernel, stride, H_in) of the conv layers, then the classifier.
VGG_LIKE: tuple[tuple[str, int, int, int, int, int], ...] = (
    ("conv1", 3, 16, 3, 1, 32),
    ("conv2", 16, 32, 3, 2, 32),
    ("conv3", 32, 64, 3, 2, 16),
    ("conv4", 64, 64, 3, 1, 8),
)
CLASSES = 10


def _check_style(style: str) -> None:
    check_choice("network style", style, STYLES)


def vgg_like_ledger(style: NetworkStyle, method: str | None = None, steps: int = 1, spike_rate: float = 0.1,
                    weight_bits: int = 8, act_bits: int = 8, vmem_bits: int = 16,
                    act_zero_fraction: float = 0.0) -> EventLedger:
    """Closed-form ledger of the small VGG-like network in network style ``style`` (see the module
    docstring), labelled ``method`` (default: the style's name). ``steps``: T of a multi-step SNN, G of
    a grouped one; ignored otherwise."""
    _check_style(style)
    if int(steps) < 1:
        raise ValueError(f"steps = {steps!r}; expected an integer >= 1")
    label = method or style
    spiking = style in ("multi_step_snn", "grouped_snn")
    T = int(steps) if style == "multi_step_snn" else 1
    G = int(steps) if style == "grouped_snn" else 1
    r = spike_rate if spiking else 1.0
    if style == "dense":
        weight_bits, act_bits = 32, 32
    layers: list[LayerEvents] = []
    for i, (name, cin, cout, k, s, h) in enumerate(VGG_LIKE):
        hout = (h + 2 * (k // 2) - k) // s + 1
        dense = cout * hout * hout * cin * k * k
        n_in, n_out = cin * h * h, cout * hout * hout
        first = i == 0
        common = dict(name=name, kind="conv", method=label, timesteps=T, groups=G, weight_bits=weight_bits,
                      in_channels=cin, out_channels=cout, kernel_size=(k, k), stride=(s, s), padding=(k // 2,) * 2,
                      in_shape=(cin, h, h), out_shape=(cout, hout, hout), neurons=n_out,
                      synapses=cout * cin * k * k, out_bits=32, fused_into=f"{name}.act")
        if spiking and not first:
            ops = dense * T * G * r
            layers.append(LayerEvents(**common, rule="conv.spike_input", act_bits=1, input_spiking=True, ac=ops,
                                      weight_reads=ops, input_reads=n_in * T * G * r, output_writes=n_out * T * G,
                                      input_nonzero=n_in * T * G * r, input_elements=n_in * T * G))
        elif style == "binary" and not first:
            layers.append(LayerEvents(**{**common, "weight_bits": 1}, rule="conv.binary", act_bits=1, xnor=dense,
                                      popcount=dense, mul=n_out, weight_reads=dense, input_reads=n_in,
                                      output_writes=n_out, input_nonzero=n_in, input_elements=n_in))
        else:
            live = 1.0 if first else 1.0 - act_zero_fraction
            wb = 32 if style == "binary" else weight_bits
            ab = 32 if first else act_bits
            layers.append(LayerEvents(**{**common, "groups": 1, "timesteps": 1, "weight_bits": wb},
                                      rule="conv.mac", act_bits=ab, mac=dense, mac_nonzero=dense * live,
                                      weight_reads=dense, input_reads=dense, output_writes=n_out,
                                      repeat_steps=T * G, input_nonzero=n_in * live, input_elements=n_in))
        layers.append(_neuron(style, f"{name}.act", label, n_out, (cout, hout, hout), T, G, r, act_bits, vmem_bits))
    layers.append(_classifier(style, label, T, G, r, weight_bits, act_bits, act_zero_fraction))
    return EventLedger(method=label, timesteps=T, groups=G, samples=1, layers=layers,
                       meta={"arch": "vgg_like", "style": style, "spike_rate": spike_rate})


def _classifier(style: str, method: str, T: int, G: int, r: float, weight_bits: int, act_bits: int,
                act_zero_fraction: float) -> LayerEvents:
    cin, h = VGG_LIKE[-1][2], 8
    n_in = cin * h * h
    common = dict(name="fc", kind="linear", method=method, timesteps=T, groups=G, in_channels=n_in,
                  out_channels=CLASSES, in_shape=(n_in,), out_shape=(CLASSES,), neurons=CLASSES,
                  synapses=n_in * CLASSES, out_bits=32)
    dense = n_in * CLASSES
    if style in ("multi_step_snn", "grouped_snn"):
        ops = dense * T * G * r
        return LayerEvents(**common, rule="linear.spike_input", weight_bits=weight_bits, act_bits=1,
                           input_spiking=True, ac=ops, weight_reads=ops, input_reads=n_in * T * G * r,
                           output_writes=CLASSES * T * G, input_nonzero=n_in * T * G * r, input_elements=n_in * T * G)
    if style == "binary":
        return LayerEvents(**common, rule="linear.binary_input", weight_bits=32, act_bits=1, mac=dense,
                           mac_nonzero=dense, weight_reads=dense, input_reads=n_in, output_writes=CLASSES,
                           input_nonzero=n_in, input_elements=n_in)
    live = 1.0 - act_zero_fraction
    wb, ab = (32, 32) if style == "dense" else (weight_bits, act_bits)
    return LayerEvents(**common, rule="linear.mac", weight_bits=wb, act_bits=ab, mac=dense, weight_reads=dense,
                       mac_nonzero=dense * live, input_reads=dense, output_writes=CLASSES,
                       input_nonzero=n_in * live, input_elements=n_in)


def _neuron(style: str, name: str, method: str, n: int, shape: tuple[int, ...], T: int, G: int, r: float,
            act_bits: int, vmem_bits: int) -> LayerEvents:
    common = dict(name=name, kind="neuron", method=method, timesteps=T, groups=G, neurons=n, in_shape=shape,
                  out_shape=shape, output_elements=n * T * G)
    if style == "multi_step_snn":
        spikes = n * T * r
        return LayerEvents(**common, rule="neuron.if", vmem_bits=vmem_bits, out_bits=1, output_spiking=True,
                           add=n * T + spikes, cmp=n * T, vmem_reads=n * T, vmem_writes=n * T, spikes=spikes,
                           output_writes=n * T, output_nonzero=spikes)
    if style == "grouped_snn":
        spikes = n * G * r
        shift = n if G & (G - 1) == 0 else 0
        return LayerEvents(**common, rule="neuron.psg_hardware", vmem_bits=vmem_bits, out_bits=1,
                           output_spiking=True, add=n * G, mask=n * G, cmp=n * G, shift=shift,
                           mul=0 if shift else n, vmem_reads=n, vmem_writes=n, spikes=spikes,
                           output_writes=n * G, output_nonzero=spikes)
    if style == "binary":
        return LayerEvents(**common, rule="neuron.sign", act_bits=32, out_bits=1, cmp=n, output_writes=n,
                           output_nonzero=n)
    bits = 32 if style == "dense" else act_bits
    return LayerEvents(**common, rule="neuron.relu" if style == "dense" else "neuron.quant", act_bits=bits,
                       out_bits=bits, cmp=n, output_writes=n, output_nonzero=n)


def style_examples(steps: int = EXAMPLE_STEPS, act_bits: int = EXAMPLE_ACT_BITS,
                   spike_rate: float = 0.15) -> dict[str, EventLedger]:
    """One example ledger per network style, labelled by the style (what the stand-alone
    :func:`~energy_models.conventions_table` prices): T = G = ``steps``, QNN activations ``act_bits`` wide."""
    return {style: vgg_like_ledger(style, steps=steps, act_bits=act_bits, spike_rate=spike_rate) for style in STYLES}
