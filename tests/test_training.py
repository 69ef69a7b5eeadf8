"""Training on digits: the foundation's accuracy targets, and safe checkpoints."""

import pickle
import time

import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from analysis.models import build_model
from analysis.snn import to_if_snn, to_onespike
from analysis.study.training import (
    CheckpointError,
    TrainConfig,
    evaluate,
    finetune_quantized,
    load_checkpoint,
    predict,
    save_checkpoint,
    train_ann,
    train_bnn,
)


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(data.target)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return TensorDataset(xtr, ytr), TensorDataset(xte, yte)


@pytest.fixture(scope="module")
def trained(digits):
    train_set, _ = digits
    start = time.perf_counter()
    torch.manual_seed(0)
    ann = build_model("cnn_small", 10, 1, 8)
    train_ann(ann, train_set, TrainConfig(epochs=15, progress=False))
    qann, _ = finetune_quantized(ann, train_set, 4, "qcfs", TrainConfig(epochs=8, lr=1e-3, progress=False))
    bnn, _ = train_bnn(ann, train_set, TrainConfig(epochs=15, progress=False))
    return ann, qann, bnn, time.perf_counter() - start


def test_digits_cnn_small_targets(digits, trained):
    _, test_set = digits
    ann, qann, bnn, _ = trained
    ann_acc, q_acc = evaluate(ann, test_set), evaluate(qann, test_set)
    assert ann_acc >= 0.97
    assert q_acc >= ann_acc - 0.015
    assert evaluate(bnn, test_set) >= 0.85
    # OneSpike(G=4) logits equal the QCFS ANN's on every test sample (float64)
    q64 = qann.double()
    ref, labels = predict(q64, test_set, dtype=torch.float64)
    os_logits, _ = predict(to_onespike(q64, 4), test_set, dtype=torch.float64)
    assert (os_logits - ref).abs().max() < 1e-9
    # the IF SNN approaches the quantized ANN's accuracy as T grows
    accs = {T: float((predict(to_if_snn(qann.float(), T), test_set)[0].argmax(1) == labels).float().mean())
            for T in (4, 32)}
    assert accs[32] >= q_acc - 0.02


def test_training_is_seeded(digits):
    train_set, test_set = digits
    outs = []
    for _ in range(2):
        model = build_model("mlp", 10, 1, 8)
        torch.manual_seed(0)
        model = build_model("mlp", 10, 1, 8)
        train_ann(model, train_set, TrainConfig(epochs=2, progress=False, seed=5))
        outs.append(predict(model, test_set)[0])
    assert torch.equal(outs[0], outs[1])


def test_checkpoint_round_trip_and_arch_check(tmp_path, trained):
    ann = trained[0]
    path = save_checkpoint(tmp_path / "ann.pt", ann, {"arch": "cnn_small", "method": "ann", "seed": 0})
    model = build_model("cnn_small", 10, 1, 8)
    _, config = load_checkpoint(path, model, expected_arch="cnn_small")
    assert config["arch"] == "cnn_small"
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(model.eval()(x), ann.eval()(x))
    with pytest.raises(CheckpointError, match="saved for architecture 'cnn_small', not 'mlp'"):
        load_checkpoint(path, expected_arch="mlp")
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_checkpoint(path, build_model("mlp", 10, 1, 8))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_checkpoint_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "config_json": "{}", "x": _RunsCode()}, bad, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_checkpoint(bad)
    assert not (tmp_path / "pwned").exists()
