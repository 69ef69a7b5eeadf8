"""NIR graphs beyond a chain of IF/LIF (issue 30, item a): LI, CubaLIF, Threshold and Conv1d nodes,
per-neuron parameters, branches and merges, hard reset. Each node's output is checked against a
plain simulation of NIR's equations written here (forward Euler with dt), and its counts against a
hand count."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from analysis.counting import count_events
from analysis.snn import from_nir, to_nir
from analysis.snn.nir_nodes import NIRNeuron

nir = pytest.importorskip("nir")
T, B = 6, 3


def f32(values):
    return np.asarray(values, dtype=np.float32)


def graph(nodes, edges, n_in, n_out):
    nodes = {"input": nir.Input(input_type={"input": np.array(n_in)}), **nodes,
             "output": nir.Output(output_type={"output": np.array(n_out)})}
    return nir.NIRGraph(nodes=nodes, edges=edges)


def subtracting(node):
    """Reset by subtraction under any NIR: ≤ 1.0.4 says so, ≥ 1.0.7 resets to v_reset unless told."""
    node.metadata["reset"] = "subtract"
    return node


def chain(*names):
    names = ("input", *names, "output")
    return list(itertools.pairwise(names))


def spikes(*shape, seed=0, p=0.5):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).float()


def weights(rows, cols, seed, scale=1.0):
    return f32(np.random.default_rng(seed).uniform(-0.5, 1.0, (rows, cols)) * scale)


def count(net, x):
    with count_events(net, strict=True, input_spikes=True) as ledger:
        out = net(x)
    return out, ledger


def test_li_with_per_neuron_time_constants_and_a_leak_voltage():
    dt = 0.5
    w, tau, r, v_leak = weights(4, 3, 0), f32([1.0, 2.0, 4.0, 8.0]), f32([1.0, 2.0, 0.5, 1.0]), f32([0, 0.2, 0, -0.1])
    g = graph({"fc": nir.Linear(weight=w), "li": nir.LI(tau=tau, r=r, v_leak=v_leak)}, chain("fc", "li"), [3], [4])
    net = from_nir(g, dt=dt)
    x = spikes(T, B, 3)
    out, ledger = count(net, x)
    v, ref = torch.zeros(B, 4), []
    for t in range(T):  # τ·v̇ = v_leak − v + R·I, one Euler step of dt
        v = v + dt / torch.tensor(tau) * (torch.tensor(v_leak) - v + torch.tensor(r) * (x[t] @ torch.tensor(w).T))
        ref.append(v)
    assert torch.allclose(out, torch.stack(ref), atol=1e-5)
    li, n = ledger.layer("body.1"), T * 4  # per sample
    assert li.rule == "nir.LI.leak_mul.membrane_out" and li.spikes == 0 and li.cmp == 0
    # dt·R/τ folded into the Linear's rows; a per neuron: one mul; charge and leak voltage: two adds
    assert (li.mul, li.add, li.vmem_reads, li.vmem_writes) == pytest.approx((n, 2 * n, n, n))
    assert ledger.layer("body.0").ac == pytest.approx(float(x.sum()) * 4 / B)
    assert ledger.meta["nir_dt"] == dt and ledger.timesteps == T and ledger.method != "ann"


def test_cubalif_with_per_neuron_thresholds():
    w1, w2 = weights(5, 4, 1, 2.0), weights(2, 5, 2)
    theta = f32([0.5, 1.0, 1.5, 0.8, 2.0])
    node = subtracting(nir.CubaLIF(tau_syn=np.full(5, 2.0, np.float32), tau_mem=np.full(5, 4.0, np.float32),
                       r=np.full(5, 2.0, np.float32), v_leak=np.zeros(5, np.float32), v_threshold=theta,
                       w_in=np.full(5, 1.5, np.float32)))
    g = graph({"fc1": nir.Linear(weight=w1), "cuba": node, "fc2": nir.Linear(weight=w2)},
              chain("fc1", "cuba", "fc2"), [4], [2])
    net = from_nir(g, dt=1.0)
    assert isinstance(net.body[1], NIRNeuron)
    x = spikes(T, B, 4, seed=3)
    out, ledger = count(net, x)
    i, v, ref = torch.zeros(B, 5), torch.zeros(B, 5), []
    for t in range(T):  # current first (τ_syn=2, w_in=1.5), then the membrane fed it (τ_mem=4, R=2)
        i = i + 1.0 / 2.0 * (-i + 1.5 * (x[t] @ torch.tensor(w1).T))
        v = v + 1.0 / 4.0 * (-v + 2.0 * i)
        s = (v > torch.tensor(theta)).float()
        v = v - s * torch.tensor(theta)
        ref.append(s)
    ref = torch.stack(ref)
    assert torch.allclose(out, ref @ torch.tensor(w2).T, atol=1e-5)
    fired = float(ref.sum()) / B
    assert fired > 0
    cuba, n = ledger.layer("body.1"), T * 5
    # decays 1 − 1/4 (v − v>>2: shift + add) and 1 − 1/2 (a shift); adds: charge, current, soft resets
    assert cuba.rule == "nir.CubaLIF.leak_shift_sub.leak_shift.soft_reset"
    assert cuba.spikes == pytest.approx(fired) and cuba.cmp == n and cuba.mul == 0
    assert cuba.shift == 2 * n and cuba.add == pytest.approx(n + 2 * n + fired)
    assert cuba.vmem_reads == 2 * n
    assert ledger.layer("body.2").ac == pytest.approx(fired * 2)  # one AC per spike and synapse


def test_threshold_node_is_stateless_and_counts_one_comparison():
    w1, w2, theta = weights(4, 3, 4), weights(2, 4, 5), f32([0.0, 0.3, 0.6, 0.9])
    g = graph({"fc1": nir.Linear(weight=w1), "th": nir.Threshold(threshold=theta), "fc2": nir.Linear(weight=w2)},
              chain("fc1", "th", "fc2"), [3], [2])
    net = from_nir(g)
    x = spikes(T, B, 3, seed=6)
    out, ledger = count(net, x)
    ref = ((x @ torch.tensor(w1).T) > torch.tensor(theta)).float()
    assert torch.allclose(out, ref @ torch.tensor(w2).T, atol=1e-6)
    th = ledger.layer("body.1")
    assert th.spikes == pytest.approx(float(ref.sum()) / B) and th.cmp == T * 4 and th.vmem_reads == 0
    assert ledger.layer("body.2").ac == pytest.approx(float(ref.sum()) * 2 / B)


def test_conv1d_counts_acs_from_the_spikes_it_reaches():
    c_in, c_out, length, k, stride, pad = 2, 3, 9, 3, 2, 1
    w = f32(np.random.default_rng(7).uniform(-0.5, 1.0, (c_out, c_in, k)))
    bias = f32([0.1, 0.0, -0.2])
    conv = nir.Conv1d(input_shape=length, weight=w, stride=stride, padding=pad, dilation=1, groups=1, bias=bias)
    theta = np.ones((c_out, 5), np.float32)
    g = graph({"conv": conv, "if": subtracting(nir.IF(r=np.ones_like(theta), v_threshold=theta))}, chain("conv", "if"),
              [c_in, length], [c_out, 5])
    net = from_nir(g)
    x = spikes(T, B, c_in, length, seed=8)
    out, ledger = count(net, x)
    v, ref = torch.zeros(B, c_out, 5), []
    for t in range(T):
        v = v + F.conv1d(x[t], torch.tensor(w), torch.tensor(bias), stride=stride, padding=pad)
        s = (v > 1.0).float()
        v = v - s
        ref.append(s)
    assert torch.equal(out, torch.stack(ref))
    # each input position reaches every output window covering it, times C_out
    cover = F.conv_transpose1d(torch.ones(1, 1, 5), torch.ones(1, 1, k), stride=stride, padding=pad)
    hand = float((x * cover[0, 0, :length]).sum()) * c_out / B
    layer = ledger.layer("body.0")
    assert layer.rule == "conv1d.spike_input" and layer.mac == 0 and layer.ac == pytest.approx(hand)
    assert ledger.layer("body.1").spikes == pytest.approx(float(torch.stack(ref).sum()) / B)


def test_branch_and_merge_sum_the_inputs_of_a_node():
    w1, w2, w3, w4 = weights(4, 3, 9), weights(4, 3, 10), weights(2, 4, 11), weights(2, 4, 12)
    nodes = {"a": nir.Linear(weight=w1), "b": nir.Linear(weight=w2),
             "if": subtracting(nir.IF(r=np.full(4, 2.0, np.float32), v_threshold=np.ones(4, np.float32))),
             "c": nir.Linear(weight=w3), "d": nir.Linear(weight=w4)}
    edges = [("input", "a"), ("input", "b"), ("a", "if"), ("b", "if"), ("if", "c"), ("if", "d"),
             ("c", "output"), ("d", "output")]
    net = from_nir(graph(nodes, edges, [3], [2]))
    x = spikes(T, B, 3, seed=13)
    out, ledger = count(net, x)
    v, ref = torch.zeros(B, 4), []
    for t in range(T):
        v = v + 2.0 * (x[t] @ torch.tensor(w1).T + x[t] @ torch.tensor(w2).T)  # dt·R·(sum of the inputs)
        s = (v > 1.0).float()
        v = v - s
        ref.append(s)
    ref = torch.stack(ref)
    assert torch.allclose(out, ref @ torch.tensor(w3 + w4).T, atol=1e-5)
    fired = float(ref.sum()) / B
    adds = [la for la in ledger.layers if la.rule == "residual_add"]
    assert [la.add for la in adds] == pytest.approx([T * 4, T * 2])  # the merge into IF, and into the output
    neuron = next(la for la in ledger.layers if la.kind == "neuron")
    assert neuron.mul == T * 4 or neuron.shift == T * 4  # R·dt = 2 cannot fold into a sum of two layers
    assert neuron.spikes == pytest.approx(fired)
    acs = sorted(la.ac for la in ledger.layers if la.kind == "linear")
    assert acs == pytest.approx(sorted([float(x.sum()) * 4 / B] * 2 + [fired * 2] * 2))


def test_per_neuron_lif_and_a_hard_reset_from_newer_nir():
    w, tau, theta = weights(3, 2, 14, 2.0), f32([2.0, 4.0, 8.0]), f32([0.5, 1.0, 1.0])
    lif = nir.LIF(tau=tau, r=np.ones(3, np.float32), v_leak=np.zeros(3, np.float32), v_threshold=theta)
    lif.v_reset = f32([0.0, 0.25, 0.0])  # NIR ≥ 1.0.7 resets to v_reset
    net = from_nir(graph({"fc": nir.Linear(weight=w), "lif": lif}, chain("fc", "lif"), [2], [3]))
    x = spikes(T, B, 2, seed=15)
    out, ledger = count(net, x)
    v, ref = torch.zeros(B, 3), []
    for t in range(T):
        v = v + 1.0 / torch.tensor(tau) * (-v + x[t] @ torch.tensor(w).T)
        s = (v > torch.tensor(theta)).float()
        v = torch.where(s > 0, torch.tensor(lif.v_reset), v)
        ref.append(s)
    ref = torch.stack(ref)
    assert torch.equal(out, ref)
    layer = ledger.layer("body.1")
    fired = float(ref.sum()) / B
    assert layer.rule == "nir.LIF.leak_mul.hard_reset" and layer.mask == pytest.approx(fired)
    assert layer.mul == T * 3 and layer.add == T * 3  # per-neuron decay; the charge (no subtraction)
    lif.metadata["reset"] = "subtract"
    back = from_nir(graph({"fc": nir.Linear(weight=w), "lif": lif}, chain("fc", "lif"), [2], [3]))
    assert back.body[1].reset == "soft"


def test_bad_graphs_are_refused_naming_the_fix():
    w = weights(2, 2, 16)
    two_inputs = nir.NIRGraph(nodes={"i1": nir.Input(input_type={"input": np.array([2])}),
                                     "i2": nir.Input(input_type={"input": np.array([2])}),
                                     "fc": nir.Linear(weight=w), "output": nir.Output(output_type={"output": [2]})},
                              edges=[("i1", "fc"), ("i2", "fc"), ("fc", "output")])
    with pytest.raises(ValueError, match="one input node"):
        from_nir(two_inputs)
    slow = graph({"fc": nir.Linear(weight=w), "li": nir.LI(tau=f32([0.5, 4.0]), r=f32([1, 1]), v_leak=f32([0, 0]))},
                 chain("fc", "li"), [2], [2])
    with pytest.raises(ValueError, match=r"dt=1\.0 must be below every τ"):
        from_nir(slow)
    cycle = graph({"fc": nir.Linear(weight=w), "fc2": nir.Linear(weight=w)},
                  [("input", "fc"), ("fc", "fc2"), ("fc2", "fc"), ("fc2", "output")], [2], [2])
    with pytest.raises(ValueError, match="cycle"):
        from_nir(cycle)


def test_per_neuron_li_cubalif_threshold_conv1d_graph_round_trips(tmp_path):
    """NIR → ours → NIR → ours: the same outputs and the same counts (per-neuron parameters,
    a leak voltage, a starting membrane, a Conv1d)."""
    w = f32(np.random.default_rng(17).uniform(-0.5, 1.0, (3, 2, 3)))
    full = lambda v: np.full((3, 4), v, np.float32)  # noqa: E731
    cuba = subtracting(nir.CubaLIF(tau_syn=f32([[2.0] * 4, [3.0] * 4, [4.0] * 4]), tau_mem=full(4.0), r=full(16.0),
                                   v_leak=full(0.0), w_in=full(2.0),
                                   v_threshold=np.linspace(0.5, 1.5, 12, dtype=np.float32).reshape(3, 4)))
    cuba.metadata["v_init"] = full(0.25)
    nodes = {"conv": nir.Conv1d(input_shape=8, weight=w, stride=2, padding=1, dilation=1, groups=1,
                                bias=f32([0.1, 0.0, 0.2])),
             "cuba": cuba, "flat": nir.Flatten(input_type={"input": np.array([3, 4])}, start_dim=0, end_dim=-1),
             "fc": nir.Linear(weight=weights(5, 12, 18)),
             "th": nir.Threshold(threshold=f32([0.0, 0.1, 0.2, 0.3, 0.4])),
             "fc2": nir.Linear(weight=weights(4, 5, 19)),
             "li": nir.LI(tau=f32([2.0, 3.0, 4.0, 5.0]), r=f32([1.0, 2.0, 1.0, 2.0]), v_leak=f32([0.0, 0.1, 0.0, 0.2]))}
    net = from_nir(graph(nodes, chain("conv", "cuba", "flat", "fc", "th", "fc2", "li"), [2, 8], [4]), dt=0.5)
    x = spikes(T, B, 2, 8, seed=20)
    path = tmp_path / "net.nir"
    nir.write(str(path), to_nir(net, x[0], dt=0.5))
    back = from_nir(path, dt=0.5)
    out, ledger = count(net, x)
    again, ledger_back = count(back, x)
    assert torch.allclose(again, out, atol=1e-5)
    assert min(la.spikes for la in ledger.layers if la.rule.startswith(("nir.CubaLIF", "nir.Threshold"))) > 0
    for a, b in zip(ledger.layers, ledger_back.layers, strict=True):
        assert a.rule == b.rule
        for event in ("ac", "mac", "add", "mul", "shift", "cmp", "spikes", "vmem_reads"):
            assert getattr(b, event) == pytest.approx(getattr(a, event)), (a.name, event)


def test_scale_folds_into_a_linear_or_counts_its_multiplications_after_a_merge():
    w1, w2 = weights(3, 2, 21), weights(3, 2, 22)
    x = spikes(T, B, 2, seed=23)
    folded = from_nir(graph({"fc": nir.Linear(weight=w1), "scale": nir.Scale(scale=np.full(3, 3.0, np.float32))},
                            chain("fc", "scale"), [2], [3]))
    out, ledger = count(folded, x)
    assert torch.allclose(out, 3.0 * (x @ torch.tensor(w1).T), atol=1e-5) and len(ledger.layers) == 1
    merged = from_nir(graph({"a": nir.Linear(weight=w1), "b": nir.Linear(weight=w2),
                             "scale": nir.Scale(scale=np.full(3, 3.0, np.float32))},
                            [("input", "a"), ("input", "b"), ("a", "scale"), ("b", "scale"), ("scale", "output")],
                            [2], [3]))
    out, ledger = count(merged, x)
    assert torch.allclose(out, 3.0 * (x @ torch.tensor(w1 + w2).T), atol=1e-5)
    scale = next(la for la in ledger.layers if la.rule == "scale")
    assert scale.mul == T * 3  # 3 is no power of two: one multiplication per element and step


def test_a_parameter_of_the_wrong_shape_is_named():
    g = graph({"fc": nir.Linear(weight=weights(4, 2, 24)),
               "if": nir.IF(r=np.full(3, 2.0, np.float32), v_threshold=f32([1.0, 2.0, 3.0]))},
              chain("fc", "if"), [2], [4])
    with pytest.raises(ValueError, match=r"threshold has shape \(3,\), which does not fit the \(4,\) neurons"):
        from_nir(g)(spikes(T, B, 2))
