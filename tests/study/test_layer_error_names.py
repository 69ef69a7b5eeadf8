"""Q10's per-layer errors name each activation as the ledgers do (#33 item 5), so layer_errors.csv
joins layers.csv on the layer name, and give the block that holds it."""

import warnings

import torch

from analysis.snn import to_if_snn, to_quantized
from analysis.study.fidelity import layer_errors
from tests.counting.test_layer_names import Custom, rows


def test_q10_layer_errors_name_activations_as_the_ledgers_and_their_block():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qann = to_quantized(Custom().eval(), 4, calibration_data=x).eval()
    snn = to_if_snn(qann, 4)
    errors = layer_errors(qann, snn, x, "custom")
    blocks = {row["layer"]: row["block"] for row in errors}
    neurons = rows(snn, "if", x)
    assert set(blocks) == set(neurons[neurons["module_type"] == "IFNeuron"]["name"])
    assert blocks == {"/relu": "", "layer1.0.relu": "layer1.0", "layer1.0.relu#2": "layer1.0",
                      "layer1.1.relu": "layer1.1", "layer1.1.relu#2": "layer1.1", "/relu#2": "", "/relu#3": ""}
