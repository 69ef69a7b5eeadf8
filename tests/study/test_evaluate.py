"""Evaluating and counting a unit: what the study shares between passes keeps every number."""

import pytest
import torch
from torch.utils.data import TensorDataset

from analysis.methods import Method
from analysis.models import build_model
from analysis.snn import to_quantized
from analysis.study import evaluate
from analysis.study.evaluate import EVAL_BATCH, evaluate_and_count, predict
from analysis.study.networks import derive, priced_form


def _networks() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    images = torch.rand(64, 1, 8, 8)
    ann = build_model("resnet20", num_classes=10, in_channels=1, image_size=8, width=4)
    qann, _ = priced_form(to_quantized(ann, 4, "qcfs", calibration_data=images), 8)
    return {Method.ANN: ann.eval(), Method.QCFS: qann, Method.IF: derive(Method.IF, qann, 4),
            Method.ONESPIKE: derive(Method.ONESPIKE, qann, 4)}


@pytest.mark.parametrize("count_samples", [None, EVAL_BATCH + 40, 100])
def test_predictions_taken_from_the_counted_pass_equal_a_plain_forward_of_every_method(count_samples, monkeypatch):
    torch.manual_seed(1)
    test_set = TensorDataset(torch.rand(EVAL_BATCH + 70, 1, 8, 8), torch.randint(0, 10, (EVAL_BATCH + 70,)))
    plain_batches = []
    original = evaluate.predict

    def counting_plain(net, data, device="cpu", known=None):  # the batches predict runs a plain forward for
        plain_batches.append(sum(len((known or {}).get(i, ())) != len(y) for i, (_, y) in
                                 enumerate(evaluate.batches(data))))
        return original(net, data, device, known)

    monkeypatch.setattr(evaluate, "predict", counting_plain)
    for method, net in _networks().items():
        result = evaluate_and_count(net, test_set, method, count_samples, "cpu", {"arch": "resnet20"})
        assert result["predicted"] == predict(net, test_set), method
        assert result["correct"] == sum(int(p == int(y)) for p, (_, y) in zip(result["predicted"], test_set,
                                                                               strict=True))
    # every test sample counted: no plain pass at all; a partly counted batch is predicted again in full
    expected = {None: 0, EVAL_BATCH + 40: 1, 100: 2}[count_samples]
    assert plain_batches == [expected] * 4


def test_units_converted_from_one_shared_source_equal_units_built_each_from_a_fresh_one():
    from torch.utils.data import TensorDataset as Data

    from analysis.study.variants import (
        DEFAULT,
        EXACT_POW2,
        HARDWARE,
        PER_GROUP_BINARY,
        PER_GROUP_CALIBRATED,
        SOURCES,
        VariantInput,
        variant_network,
    )

    networks = _networks()
    qann, ann = networks[Method.QCFS], networks[Method.ANN]
    torch.manual_seed(2)
    train, x = Data(torch.rand(600, 1, 8, 8), torch.randint(0, 10, (600,))), torch.rand(16, 1, 8, 8)
    state = {k: v.clone() for k, v in qann.state_dict().items()}
    units = [(Method.IF, 4, DEFAULT), (Method.ONESPIKE, 4, DEFAULT), (Method.ONESPIKE, 4, EXACT_POW2),
             (Method.ONESPIKE, 4, HARDWARE), (Method.ONESPIKE, 4, PER_GROUP_CALIBRATED),
             (Method.ONESPIKE, 2, PER_GROUP_BINARY), (Method.INT8, 1, DEFAULT)]
    base = {Method.INT8: ann}  # the INT8 ANN is converted from the ANN, the rest from the quantized ANN
    shared = {}
    for _ in range(2):  # the second round reads every source from SOURCES
        for method, steps, variant in units:
            given = VariantInput(method, steps, 4, 4, base.get(method, qann), train, 8)
            shared[(method, steps, variant)] = variant_network(variant, given)[0](x)
    assert qann in SOURCES and len(SOURCES[qann]) == 2  # its pow2 form and its priced form at 8 bits
    for method, steps, variant in units:
        SOURCES.clear()  # a fresh source for each unit, as each unit made it before
        fresh = variant_network(variant, VariantInput(method, steps, 4, 4, base.get(method, qann), train, 8))[0](x)
        assert torch.equal(fresh, shared[(method, steps, variant)]), (method, steps, variant)
    assert all(torch.equal(v, qann.state_dict()[k]) for k, v in state.items())  # converting changed no weight
