"""What ran is what is priced: per-channel weight quantization, the weight width read from the
network, the INT8 ANN, Q1's identity on quantized weights and its float32 level flips, and the
plan's equal-bits networks."""

import math

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from analysis.counting import count_events
from analysis.methods import Method, get_method, infer_method
from analysis.models import build_model
from analysis.snn import (
    ActivationQuant,
    BinaryConv2d,
    fuse_conv_bn,
    quantize_per_channel,
    quantize_weights,
    to_binary,
    to_int8,
    to_quantized,
    weight_bits_of,
)
from analysis.study import StudyConfig
from analysis.study.fidelity import TIE_LEVELS, equivalence_unit, level_flips
from analysis.study.networks import derive, priced_form, relevel
from analysis.study.plan import build_plan
from analysis.study.trained import finetuned_networks


# -- the quantizer ----------------------------------------------------------------------------------
def test_per_channel_symmetric_quantizer_is_exact_on_known_weights():
    weight = torch.tensor([[0.3, -1.0, 0.2], [0.0, 0.0, 0.0], [3.0, 1.0, -0.75]])
    integers, scales = quantize_per_channel(weight, 8)
    # channel 0: s = 1/127, 0.3·127 = 38.1 -> 38, 0.2·127 = 25.4 -> 25, the peak lands on -127; channel 1
    # (all zero) stays zero; channel 2: s = 3/127, 127/3 = 42.3 -> 42, -0.75·127/3 = -31.75 -> -32
    assert integers.tolist() == [[38, -127, 25], [0, 0, 0], [127, 42, -32]]
    assert torch.allclose(scales.flatten(), torch.tensor([1 / 127, 1.0, 3 / 127]))
    four, four_scales = quantize_per_channel(weight, 4)  # 7 steps a side: 2.1 -> 2, 1.4 -> 1, 2.33 -> 2, -1.75 -> -2
    assert four.tolist() == [[2, -7, 1], [0, 0, 0], [7, 2, -2]] and float(four_scales[2]) == pytest.approx(3 / 7)

    layer = nn.Linear(3, 3)
    with torch.no_grad():
        layer.weight.copy_(weight)
    quantized = quantize_weights(layer, 8)
    assert torch.equal(quantized.weight, integers.float() * scales) and quantized.weight_bits == 8
    assert torch.equal(quantized.bias, layer.bias)  # biases stay float (an accumulator-width add)
    assert torch.equal(layer.weight, weight) and not hasattr(layer, "weight_bits")  # the input is not touched
    assert torch.equal(quantize_weights(layer, 32).weight, weight) and weight_bits_of(quantize_weights(layer, 32)) == 32
    assert weight_bits_of(layer) == 32  # unmarked weights are float
    for bad in (1, 0, 17, 33, 8.5, True):
        with pytest.raises(ValueError, match=r"weight_bits must be an integer in \[2, 16\].*or 32"):
            quantize_weights(layer, bad)


def test_binary_layers_stay_binary_and_the_float_first_and_last_follow_the_study_width():
    ann = build_model("cnn_small", num_classes=10, in_channels=1, image_size=8, width=8)
    bnn = quantize_weights(to_binary(ann), 8)
    synapses = [m for m in bnn.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert [weight_bits_of(m) for m in synapses] == [8] + [1] * (len(synapses) - 2) + [8]
    latent = next(m for m in to_binary(ann).modules() if isinstance(m, BinaryConv2d)).weight
    assert torch.equal(next(m for m in bnn.modules() if isinstance(m, BinaryConv2d)).weight, latent)


# -- the ledger's width is the network's ------------------------------------------------------------
def _synapse_widths(net: nn.Module, x: torch.Tensor, **options) -> list[int]:
    with torch.no_grad(), count_events(net, **options) as ledger:
        net(x)
    return [layer.weight_bits for layer in ledger.layers if layer.kind in ("conv", "linear")]


def test_the_ledger_reads_the_weight_width_from_the_network():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 8)
    ann = build_model("cnn_small", num_classes=10, in_channels=1, image_size=8, width=8).eval()
    layers = len(_synapse_widths(ann, x))
    assert _synapse_widths(ann, x) == [32] * layers  # float weights: 32, whatever the method
    assert _synapse_widths(ann, x, method=Method.QCFS) == [32] * layers  # never a per-method default
    assert _synapse_widths(quantize_weights(ann, 6), x) == [6] * layers
    qann, _ = priced_form(to_quantized(ann, 4), 8)
    assert _synapse_widths(qann, x) == [8] * layers
    for method in (Method.IF, Method.ONESPIKE):  # converted from the priced form: the same grid times θ
        assert _synapse_widths(derive(method, qann, 4), x) == [8] * layers
    assert _synapse_widths(priced_form(to_binary(ann), 8)[0], x) == [8] + [1] * (layers - 2) + [8]
    assert _synapse_widths(ann, x, weight_bits=4) == [4] * layers  # a what-if width, imposed by the caller


def test_method_specs_request_widths_and_the_study_sets_the_rest():
    assert get_method(Method.ANN).requested_weight_bits(6) == 32
    assert get_method(Method.INT8).requested_weight_bits(6) == 8
    assert {get_method(m).requested_weight_bits(6) for m in (Method.QCFS, Method.CQ, Method.IF, Method.ONESPIKE,
                                                             Method.BNN)} == {6}
    assert StudyConfig.quick(weight_bits=4).weight_bits == 4 and StudyConfig.quick(weight_bits=32).weight_bits == 32
    with pytest.raises(ValueError, match="weight_bits must be an integer in \\[2, 16\\]"):
        StudyConfig.quick(weight_bits=1)


# -- the INT8 ANN -----------------------------------------------------------------------------------
def test_int8_ann_has_255_step_activations_calibrated_on_training_images():
    torch.manual_seed(0)
    ann = build_model("cnn_small", num_classes=10, in_channels=1, image_size=8, width=8).eval()
    images = torch.rand(64, 1, 8, 8)
    spec = get_method(Method.INT8)
    assert (spec.label, spec.short, spec.parent, spec.act_bits(4)) == ("INT8 ANN", "INT8", Method.ANN, 8)
    with pytest.raises(ValueError, match="calibrates its activation ranges"):
        derive(Method.INT8, ann)
    priced, _ = priced_form(ann, 8)
    int8 = derive(Method.INT8, priced, calibration=images)
    quants = [m for m in int8.modules() if isinstance(m, ActivationQuant)]
    assert quants and all(m.levels == 255 and m.shift == 0.5 for m in quants)
    assert infer_method(int8).name == Method.INT8 and infer_method(to_quantized(ann, 4)).name == Method.QCFS
    # the clip is the 99.99th percentile of the layer's positive pre-activations on the images
    with torch.no_grad():
        pre = priced[0](images)  # priced form: BN folded into the first conv
    expected = torch.quantile(pre[pre > 0], 99.99 / 100)
    assert float(quants[0].threshold) == pytest.approx(float(expected), rel=1e-6)
    with torch.no_grad():
        gap = (int8(images) - priced(images)).abs().max() / priced(images).abs().max()
    assert gap < 0.05  # 8-bit activations move the logits by a few percent at most
    with torch.no_grad(), count_events(int8) as ledger:
        int8(images)
    assert ledger.method == Method.INT8
    hidden = [layer for layer in ledger.layers if layer.kind in ("conv", "linear")][1:]
    assert {layer.act_bits for layer in hidden} == {8} and {layer.weight_bits for layer in hidden} == {8}
    assert to_int8(ann, images).training is False


# -- Q1 on quantized weights, and its precision -----------------------------------------------------
def _realistic_resnet(size: int = 8, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """A ResNet-18-like net (zoo resnet18, average pooling before the classifier) whose BatchNorms
    hold statistics measured on data and random affine parameters, and images with a black border
    (as digits have), so that many stem outputs are the folded BN bias alone."""
    torch.manual_seed(seed)
    ann = build_model("resnet18", num_classes=10, in_channels=1, image_size=size, width=8)
    images = torch.rand(48, 1, size, size)
    images[..., :2, :] = 0
    images[..., -2:, :] = 0
    images[..., :, :2] = 0
    images[..., :, -2:] = 0
    with torch.no_grad():
        for m in ann.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None
                m.reset_running_stats()
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.3)
        ann.train()(images)
    return ann.eval(), images


def test_q1_identity_holds_on_quantized_weights_in_float64():
    ann, images = _realistic_resnet()
    qann = to_quantized(ann, 4, calibration_data=images)
    priced, _ = priced_form(qann, 8)
    test = TensorDataset(images, torch.zeros(len(images), dtype=torch.long))
    out = equivalence_unit(priced, 4, test)
    assert out["precision"] == "float64" and out["onespike_max_abs_logit_diff"] == 0.0
    assert out["onespike_agreement"] == 1.0 and out["level_flips_float64"] == 0
    assert out["activations_compared"] == sum(row["activations"] for row in out["layers"]) > 0
    assert out["if_max_abs_logit_diff"] > 0  # the IF SNN is not the quantized ANN


def _straddles(bias: torch.Tensor, lam: torch.Tensor, levels: int, shift: float, dtype: torch.dtype) -> bool:
    """Whether the quantized ANN (x·(L/λ) + φ) and PSG ((G·x)/θ + v_init, G = L, θ = λ) put a
    pre-activation ``bias`` on different levels when computed in ``dtype`` (as their forwards do)."""
    b, t = bias.to(dtype), lam.to(dtype)
    return bool(torch.floor(b * (levels / t) + shift) != torch.floor((b * levels) / t + shift))


def _tie_on_the_stem(qann: nn.Module, channel: int = 0) -> torch.Tensor:
    """Set one stem BN channel's shift β so that its folded bias lies within float32 rounding of a
    level boundary: the quantized ANN and PSG round it to different levels in float32 and to the
    same level in float64. Returns the folded bias."""
    conv, bn, quant = qann.stem.conv, qann.stem.bn, qann.stem.relu
    lam = quant.threshold.detach()
    for k in range(1, quant.levels + 1):  # the boundary between levels k-1 and k: bias·L/λ + φ = k
        bias = (k - quant.shift) * lam / quant.levels
        for _ in range(200):
            bias = torch.nextafter(bias, torch.tensor(-math.inf))
        for _ in range(400):
            bias = torch.nextafter(bias, torch.tensor(math.inf))
            if not _straddles(bias, lam, quant.levels, quant.shift, torch.float32) or _straddles(
                    bias, lam, quant.levels, quant.shift, torch.float64):
                continue
            with torch.no_grad():  # β such that folding (0 − μ)·γ/σ + β gives this bias
                bn.bias[channel] += bias - fuse_conv_bn(conv, bn).bias[channel]
            folded = fuse_conv_bn(conv, bn).bias[channel].detach()
            if _straddles(folded, lam, quant.levels, quant.shift, torch.float32):
                return folded
    raise AssertionError("no float32 tie found within 200 ulps of a level boundary")


def test_level_flips_found_in_float32_at_a_threshold_after_bn_folding_and_none_in_float64():
    ann, images = _realistic_resnet()
    qann = to_quantized(ann, 4, calibration_data=images)
    _tie_on_the_stem(qann)
    priced, _ = priced_form(qann, 8)
    test = TensorDataset(images, torch.zeros(len(images), dtype=torch.long))
    out = equivalence_unit(priced, 4, test)
    stem = out["layers"][0]
    assert stem["layer"] == "stem.relu"
    # every border position of the channel sits on the tie: all flip, and each is at the threshold
    assert stem["level_flips_float32"] == stem["at_threshold_float32"] >= len(images) * 20
    assert out["level_flips_float32"] >= stem["level_flips_float32"] and out["max_abs_logit_diff_float32"] > 1e-4
    assert out["level_flips_float64"] == 0 and out["onespike_max_abs_logit_diff"] == 0.0  # identical in float64
    # the same comparison, layer by layer, straight from level_flips
    q32 = priced.float()
    summary, layers = level_flips(derive(Method.ONESPIKE, q32, 4), relevel(q32, 4), test, torch.float32)
    assert summary["level_flips"] == out["level_flips_float32"]
    assert layers[0]["at_threshold"] == stem["at_threshold_float32"]
    assert 0 < TIE_LEVELS < 1e-2


# -- the plan -----------------------------------------------------------------------------------------
def test_plan_has_the_int8_ann_and_the_equal_bits_networks_fine_tuned_at_one_level():
    config = StudyConfig.quick()
    plan = build_plan(config)
    int8 = [u for u in plan if u.method == Method.INT8]
    assert len(int8) == 1 and int8[0].variant == "default"
    assert finetuned_networks(config) == [(Method.QCFS, 1)]
    tuned = {(u.method, u.steps, u.levels) for u in plan if u.variant == "finetuned"}
    assert tuned == {(Method.QCFS, 1, 1), (Method.ONESPIKE, 1, 1)}
    no_bnn = StudyConfig.quick(methods=[Method.ANN, Method.QCFS, Method.ONESPIKE])
    assert finetuned_networks(no_bnn) == [] and not [u for u in build_plan(no_bnn) if u.variant == "finetuned"]
    assert finetuned_networks(StudyConfig.quick(levels=1)) == []


def test_without_a_trained_ann_the_equal_bits_network_is_skipped_with_a_warning(tmp_path):
    """Given quantized and binary weights and no ANN to study, there is no ANN to fine-tune the L = 1 network
    from: its units are skipped with a warning, never fine-tuned from an untrained structure."""
    from analysis.study import load_tables, run_study
    from analysis.study.training import save_checkpoint

    ann = build_model("mlp", 10, 1, 8)
    paths = []
    for method, net in ((Method.QCFS, to_quantized(ann, 4)), (Method.BNN, to_binary(ann))):
        paths.append(str(tmp_path / f"{method}.pt"))
        save_checkpoint(paths[-1], net, {"arch": "mlp", "method": method, "levels": 4, "options": {}})
    config = StudyConfig.quick(archs=["mlp"], methods=[Method.QCFS, Method.ONESPIKE, Method.BNN],
                               timesteps=[1], checkpoints=paths, count_samples=8, subset=40, hardware=["flops45nm"],
                               sparsity_sweep=[0.0, 1.0], spike_event_sweep=[0.0])
    assert finetuned_networks(config) == [(Method.QCFS, 1)]  # the plan asks for it; the run cannot make it
    with pytest.warns(UserWarning, match="fine-tuned at L=1 .* is skipped: the ANN .* neither given nor trained"):
        run_study(config, tmp_path / "run", progress=False)
    results = load_tables(tmp_path / "run")["results"]
    assert "finetuned" not in set(results["variant"]) and set(results["made"]) >= {"given weights (checkpoint)"}
