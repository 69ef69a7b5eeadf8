"""The quantizers' and the BNN's one-node straight-through functions give bit for bit the values and
gradients of the autograd compositions they replace (the reference forwards below are those
compositions), and so train bitwise the same weights."""

import math
import pickle

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from analysis.models import build_model
from analysis.snn import to_binary, to_quantized
from analysis.snn.lif import SURROGATES, spike_fn
from analysis.snn.neurons import QCFS, BinaryActivation, BinaryConv2d, BinaryLinear, ClampQuant
from analysis.study.training import TrainConfig, train


class FloorSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def reference_quantizer(self, x):
    lam = self.threshold.to(x.dtype)
    scaled = x * (self.levels / lam) + self.shift
    return torch.clamp(FloorSTE.apply(scaled), 0, self.levels) * (lam / self.levels)


def reference_weight(weight):
    alpha = weight.abs().mean(dim=tuple(range(1, weight.dim())), keepdim=True)
    return SignSTE.apply(weight) * alpha


REFERENCE_FORWARDS = {
    QCFS: reference_quantizer,
    BinaryActivation: lambda self, x: SignSTE.apply(x),
    BinaryConv2d: lambda self, x: self._conv_forward(x, reference_weight(self.weight), self.bias),
    BinaryLinear: lambda self, x: F.linear(x, reference_weight(self.weight), self.bias),
}


def with_reference(monkeypatch):
    for cls, forward in REFERENCE_FORWARDS.items():
        monkeypatch.setattr(cls, "forward", forward)


def awkward_input(shape, dtype, threshold, levels, generator):
    """Values on every edge the forward and backward treat apart: ±0, the clip's ends and the
    floor's steps (exact multiples of λ/L, shifted), |x| = 1, beyond, and a NaN."""
    x = torch.randn(shape, dtype=dtype, generator=generator) * threshold
    flat = x.view(-1)
    edges = [0.0, -0.0, 1.0, -1.0, threshold, -threshold, 2 * threshold, float("nan")]
    edges += [k * threshold / levels for k in range(-2, levels + 3)]
    edges += [(k - 0.5) * threshold / levels for k in range(-1, levels + 3)]
    flat[:len(edges)] = torch.tensor(edges, dtype=dtype)
    return x


def grads_of(module, x, out_grad):
    module.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_(True)
    y = module(x)
    y.backward(out_grad)
    return y.detach(), x.grad, [p.grad for p in module.parameters() if p.requires_grad]


def same(a, b):
    """Bitwise: equal values, NaN where the other has NaN, and the same sign of zero."""
    return torch.equal(torch.nan_to_num(a, nan=7.0), torch.nan_to_num(b, nan=7.0)) and torch.equal(
        torch.signbit(a), torch.signbit(b))


@pytest.mark.parametrize("make", [lambda L: QCFS(L, threshold=1.3), lambda L: QCFS(L, threshold=0.7, shift=0.25),
                                  lambda L: ClampQuant(L, clamp=1.1)])
@pytest.mark.parametrize("levels", [1, 3, 4, 7])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_quantizers_values_and_gradients_are_the_compositions(monkeypatch, make, levels, dtype):
    generator = torch.Generator().manual_seed(levels)
    module = make(levels)
    threshold = float(module.threshold.detach())
    x = awkward_input((6, 5, 4, 4), dtype, threshold, levels, generator)
    out_grad = torch.randn(x.shape, dtype=dtype, generator=generator)
    out_grad.view(-1)[:6] = torch.tensor([0.0, -0.0, -1.0, 1.0, -2.0, 3.0])
    fused = grads_of(module, x, out_grad)
    with monkeypatch.context() as patch:
        with_reference(patch)
        composed = grads_of(module, x, out_grad)
    assert same(fused[0], composed[0]) and same(fused[1], composed[1])
    assert len(fused[2]) == 1 and same(fused[2][0], composed[2][0])
    with torch.no_grad():  # without gradients, the plain composition: the same values
        assert same(module(x), fused[0])


def test_a_fixed_threshold_and_an_input_without_gradient_take_the_same_values(monkeypatch):
    module = QCFS(4, threshold=1.0, trainable=False)
    x = torch.randn(3, 8, requires_grad=True)
    module(x).sum().backward()
    with monkeypatch.context() as patch:
        with_reference(patch)
        x2 = x.detach().requires_grad_(True)
        module(x2).sum().backward()
    assert torch.equal(x.grad, x2.grad) and module.threshold.grad is None
    trainable = QCFS(4, threshold=1.0)
    plain = torch.randn(3, 8)
    trainable(plain).sum().backward()
    lam_grad = trainable.threshold.grad.clone()
    trainable.zero_grad()
    with monkeypatch.context() as patch:
        with_reference(patch)
        trainable(plain).sum().backward()
    assert torch.equal(lam_grad, trainable.threshold.grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_binary_layers_values_and_gradients_are_the_compositions(monkeypatch, dtype):
    generator = torch.Generator().manual_seed(5)
    conv = BinaryConv2d(4, 6, 3, padding=1).to(dtype)
    linear = BinaryLinear(12, 5).to(dtype)
    with torch.no_grad():  # weights on the estimator's edges: 0, ±1, beyond
        conv.weight.view(-1)[:5] = torch.tensor([0.0, -0.0, 1.0, -1.0, 1.5])
    for module, shape in ((conv, (3, 4, 5, 5)), (linear, (7, 12)), (BinaryActivation(), (4, 9))):
        x = awkward_input(shape, dtype, 1.0, 2, generator)
        x.view(-1)[-1] = 0.3  # the NaN is the activation's only; a layer's would spread to every output
        if not isinstance(module, BinaryActivation):
            x = x.nan_to_num(0.25)
        y = module(x)
        out_grad = torch.randn(y.shape, dtype=dtype, generator=generator)
        fused = grads_of(module, x, out_grad)
        with monkeypatch.context() as patch:
            with_reference(patch)
            composed = grads_of(module, x, out_grad)
        assert same(fused[0], composed[0]) and same(fused[1], composed[1]), type(module).__name__
        assert all(same(a, b) for a, b in zip(fused[2], composed[2], strict=True)), type(module).__name__
        with torch.no_grad():
            assert same(module(x), fused[0])


ARCHS = {"cnn_small": {"width": 8}, "vgg11": {"width": 4}, "resnet20": {"width": 4},
         "repvgg_a0": {"width": 8, "blocks": (1, 1, 1, 1, 1)}}


@pytest.fixture(scope="module")
def subset():
    data = load_digits()
    x = torch.tensor(data.images[:192] / 16.0, dtype=torch.float32).unsqueeze(1)
    return torch.utils.data.TensorDataset(x, torch.tensor(data.target[:192]))


@pytest.mark.parametrize("arch", list(ARCHS))
def test_training_with_the_one_node_functions_gives_bitwise_the_same_weights(subset, monkeypatch, arch):
    torch.manual_seed(0)
    ann = build_model(arch, 10, 1, 8, **ARCHS[arch])
    calibration = subset.tensors[0]
    nets = {"qcfs": to_quantized(ann, 4, "qcfs", calibration_data=calibration),
            "cq": to_quantized(ann, 4, "cq", calibration_data=calibration),
            "qcfs L=1": to_quantized(ann, 1, "qcfs", calibration_data=calibration), "bnn": to_binary(ann)}
    trained = {}
    for reference in (False, True):
        if reference:
            with_reference(monkeypatch)
        for name, net in nets.items():
            model = pickle.loads(pickle.dumps(net))
            train(model, subset, TrainConfig(epochs=2, progress=False, seed=3))
            trained[(name, reference)] = model.state_dict()
    for name, net in nets.items():
        fused, composed = trained[(name, False)], trained[(name, True)]
        assert all(torch.equal(fused[k], composed[k]) for k in composed), (arch, name)
        assert not all(torch.equal(fused[k], v) for k, v in net.state_dict().items()), "it trained"
    assert any(isinstance(m, BinaryConv2d) for m in nets["bnn"].modules())


class ReferenceSpike(torch.autograd.Function):
    """The surrogate spike as it was written: boolean comparisons cast to floats, out-of-place."""

    @staticmethod
    def forward(ctx, u, kind, alpha, at_threshold):
        ctx.save_for_backward(u)
        ctx.kind, ctx.alpha = kind, alpha
        return (u >= 0).to(u.dtype) if at_threshold else (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        a = ctx.alpha
        if ctx.kind == "atan":
            d = a / 2 / (1 + (math.pi / 2 * a * u) ** 2)
        elif ctx.kind == "sigmoid":
            s = torch.sigmoid(a * u)
            d = a * s * (1 - s)
        else:
            d = (u.abs() < 0.5 / a).to(u.dtype) * a
        return grad * d, None, None, None


@pytest.mark.parametrize("kind", SURROGATES)
@pytest.mark.parametrize("alpha", [2.0, 3.7])
@pytest.mark.parametrize("at_threshold", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_surrogate_spike_is_the_boolean_composition_bit_for_bit(kind, alpha, at_threshold, dtype):
    generator = torch.Generator().manual_seed(1)
    u = torch.randn(500, dtype=dtype, generator=generator) * 2
    u[:9] = torch.tensor([0.0, -0.0, 0.25, -0.25, 0.5 / alpha, -0.5 / alpha, float("nan"), 1e-30, -1e-30])
    grad = torch.randn(500, dtype=dtype, generator=generator)
    grad[:3] = torch.tensor([-0.0, 0.0, -1.0])
    a, b = u.clone().requires_grad_(), u.clone().requires_grad_()
    ya, yb = spike_fn(a, kind, alpha, at_threshold), ReferenceSpike.apply(b, kind, alpha, at_threshold)
    ya.backward(grad)
    yb.backward(grad)
    assert same(ya, yb) and same(a.grad, b.grad)
