"""Hand-made ledgers of a small VGG-like network, for docs, tests and quick comparisons.

:func:`vgg_like_ledger` writes the events a counting pass would record for a 4-conv + 1-linear
network on 3x32x32 inputs (stride-2 convs instead of pooling), per sample, from closed-form counts:

- ANN / quantized ANN: every conv/linear layer ``mac`` = dense ops, of which ``mac_nonzero`` = dense
  ops x (1 - ``act_zero_fraction``) have a non-zero activation (all of them in the first layer: pixels);
  one ``cmp`` per activation, written at ``act_bits``.
- ``if`` (T steps, input firing rate r of every spiking layer): the first conv is counted once
  (``mac`` = dense ops) and its output reused over the T steps (``repeat_steps`` = T); later layers
  ``ac`` = dense ops x T x r; IF neurons integrate (``add`` = neurons x T, plus one reset subtraction
  per spike), compare once per step, read and write the membrane once per step, and emit neurons x T x r spikes.
- ``onespike`` (G groups, one timestep): the first conv runs once on the image; later layers
  ``ac`` = dense ops x G x r; PSG hardware mode per neuron: G running-sum adds, G masks, G compares,
  one shift (1/G), membrane read and written once.

Every conv accumulates at 32 bits (``out_bits``, as the counter records) and feeds its activation
directly (``fused_into`` = the activation's name). The classifier (last linear layer) does not spike.
Logical memory accesses follow the ledger's convention (before reuse): one weight read and one input
read per operation, one output write per output value.
"""

from __future__ import annotations

from energy_models.ledger import EventLedger, LayerEvents

#: (name, C_in, C_out, kernel, stride, H_in) of the conv layers, then the classifier.
VGG_LIKE: tuple[tuple[str, int, int, int, int, int], ...] = (
    ("conv1", 3, 16, 3, 1, 32),
    ("conv2", 16, 32, 3, 2, 32),
    ("conv3", 32, 64, 3, 2, 16),
    ("conv4", 64, 64, 3, 1, 8),
)
CLASSES = 10


def vgg_like_ledger(method: str, timesteps: int = 1, groups: int = 1, spike_rate: float = 0.1,
                    weight_bits: int = 8, act_bits: int = 8, vmem_bits: int = 16,
                    act_zero_fraction: float = 0.0) -> EventLedger:
    """Closed-form ledger of the small VGG-like network (see the module docstring)."""
    spiking = method in ("if", "onespike")
    T = timesteps if method == "if" else 1
    G = groups if method == "onespike" else 1
    r = spike_rate if spiking else 1.0
    layers: list[LayerEvents] = []
    for i, (name, cin, cout, k, s, h) in enumerate(VGG_LIKE):
        hout = (h + 2 * (k // 2) - k) // s + 1
        dense = cout * hout * hout * cin * k * k
        n_in, n_out = cin * h * h, cout * hout * hout
        first = i == 0
        common = dict(name=name, kind="conv", method=method, timesteps=T, groups=G, weight_bits=weight_bits,
                      in_channels=cin, out_channels=cout, kernel_size=(k, k), stride=(s, s), padding=(k // 2,) * 2,
                      in_shape=(cin, h, h), out_shape=(cout, hout, hout), neurons=n_out,
                      synapses=cout * cin * k * k, out_bits=32, fused_into=f"{name}.act")
        if spiking and not first:
            ops = dense * T * G * r
            layers.append(LayerEvents(**common, rule="conv.spike_input", act_bits=1, input_spiking=True, ac=ops,
                                      weight_reads=ops, input_reads=n_in * T * G * r, output_writes=n_out * T * G,
                                      input_nonzero=n_in * T * G * r, input_elements=n_in * T * G))
        else:
            live = 1.0 if first else 1.0 - act_zero_fraction
            layers.append(LayerEvents(**{**common, "groups": 1, "timesteps": 1}, rule="conv.mac",
                                      act_bits=act_bits, mac=dense, mac_nonzero=dense * live, weight_reads=dense,
                                      input_reads=dense, output_writes=n_out, repeat_steps=T,
                                      input_nonzero=n_in * live, input_elements=n_in))
        layers.append(_neuron(f"{name}.act", method, n_out, (cout, hout, hout), T, G, r, act_bits, vmem_bits))
    cin, h = VGG_LIKE[-1][2], 8
    n_in = cin * h * h
    common = dict(name="fc", kind="linear", method=method, timesteps=T, groups=G, weight_bits=weight_bits,
                  in_channels=n_in, out_channels=CLASSES, in_shape=(n_in,), out_shape=(CLASSES,), neurons=CLASSES,
                  synapses=n_in * CLASSES, out_bits=32)
    live = 1.0 - act_zero_fraction
    dense = n_in * CLASSES
    if spiking:
        ops = dense * T * G * r
        layers.append(LayerEvents(**common, rule="linear.spike_input", act_bits=1, input_spiking=True, ac=ops,
                                  weight_reads=ops, input_reads=n_in * T * G * r, output_writes=CLASSES * T * G,
                                  input_nonzero=n_in * T * G * r, input_elements=n_in * T * G))
    else:
        layers.append(LayerEvents(**common, rule="linear.mac", act_bits=act_bits, mac=dense, weight_reads=dense,
                                  mac_nonzero=dense * live, input_reads=dense, output_writes=CLASSES,
                                  input_nonzero=n_in * live, input_elements=n_in))
    return EventLedger(method=method, timesteps=T, groups=G, samples=1, layers=layers,
                       meta={"arch": "vgg_like", "spike_rate": spike_rate})


def _neuron(name: str, method: str, n: int, shape: tuple[int, ...], T: int, G: int, r: float, act_bits: int,
            vmem_bits: int) -> LayerEvents:
    common = dict(name=name, kind="neuron", method=method, timesteps=T, groups=G, neurons=n, in_shape=shape,
                  out_shape=shape, output_elements=n * T * G)
    if method == "if":
        spikes = n * T * r
        return LayerEvents(**common, rule="neuron.if", vmem_bits=vmem_bits, out_bits=1, output_spiking=True,
                           add=n * T + spikes, cmp=n * T, vmem_reads=n * T, vmem_writes=n * T, spikes=spikes,
                           output_writes=n * T, output_nonzero=spikes)
    if method == "onespike":
        spikes = n * G * r
        shift = n if G & (G - 1) == 0 else 0
        return LayerEvents(**common, rule="neuron.psg_hardware", vmem_bits=vmem_bits, out_bits=1,
                           output_spiking=True, add=n * G, mask=n * G, cmp=n * G, shift=shift,
                           mul=0 if shift else n, vmem_reads=n, vmem_writes=n, spikes=spikes,
                           output_writes=n * G, output_nonzero=spikes)
    return LayerEvents(**common, rule="neuron.relu" if method == "ann" else "neuron.quant", act_bits=act_bits,
                       out_bits=act_bits, cmp=n, output_writes=n, output_nonzero=n)
