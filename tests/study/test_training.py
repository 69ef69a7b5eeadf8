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


# -- the plateau rule -------------------------------------------------------------------------------------
def test_validation_split_is_seeded_disjoint_and_complete():
    from analysis.study.plateau import validation_split

    numbered = TensorDataset(torch.arange(100.0).unsqueeze(1), torch.arange(100))
    fit, held = validation_split(numbered, 0.1, seed=3)
    again, _ = validation_split(numbered, 0.1, seed=3)
    other, _ = validation_split(numbered, 0.1, seed=4)
    assert len(held) == 10 and len(fit) == 90
    assert sorted(fit.tensors[1].tolist() + held.tensors[1].tolist()) == list(range(100))
    assert torch.equal(fit.tensors[1], again.tensors[1]) and not torch.equal(fit.tensors[1], other.tensors[1])
    with pytest.raises(ValueError, match="training set has 1 sample"):
        validation_split(TensorDataset(torch.zeros(1, 2), torch.zeros(1)), 0.1, seed=0)


def test_plateau_rule_stops_after_patience_epochs_without_a_rise_of_delta():
    from analysis.study.plateau import PlateauRule

    model = torch.nn.Linear(2, 2)
    rule = PlateauRule(patience=3, min_delta=0.01)
    # rises of >= 0.01 reset the count; 0.995 is the best but not a rise of 0.01 over 0.99
    accuracies = [0.5, 0.9, 0.99, 0.995, 0.98, 0.99]
    stops = []
    for epoch, accuracy in enumerate(accuracies, 1):
        with torch.no_grad():
            model.weight.fill_(epoch)
        stops.append(rule.reached(accuracy, model))
    assert stops == [False, False, False, False, False, True]
    rule.restore_best(model)
    assert torch.all(model.weight == 4)  # the best epoch's weights (0.995 at epoch 4)
    tie = PlateauRule(patience=2, min_delta=0.0)
    for epoch in (1, 2):
        with torch.no_grad():
            model.weight.fill_(epoch)
        tie.reached(0.9, model)
    tie.restore_best(model)
    assert torch.all(model.weight == 2)  # a tie keeps the later, longer-trained epoch


def test_plateau_training_stops_early_keeps_its_best_epoch_and_is_seeded(digits):
    train_set, test_set = digits
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model("mlp", 10, 1, 8)
        config = TrainConfig(epochs=30, progress=False, seed=5, patience=2, min_delta=0.01)
        runs.append((train_ann(model, train_set, config), predict(model, test_set)[0]))
    (history, logits), (history_again, logits_again) = runs
    assert history == history_again and torch.equal(logits, logits_again)
    assert len(history) < 30  # digits' MLP plateaus long before the cap
    from analysis.study.plateau import PlateauRule

    replay = PlateauRule(patience=2, min_delta=0.01)  # the rule stopped it at the first epoch it says so
    stops = [replay.reached(h["val_accuracy"], model) for h in history]
    assert stops[-1] and not any(stops[:-1])
    assert evaluate(model, test_set) >= 0.9


def test_the_batched_optimizer_update_trains_bitwise_the_weights_a_loop_over_parameters_does(digits, monkeypatch):
    from analysis.snn import to_binary, to_quantized

    train_set, _ = digits
    torch.manual_seed(0)
    ann = build_model("resnet20", 10, 1, 8, width=4)
    nets = {"ann": ann, "qcfs": to_quantized(ann, 4, "qcfs", calibration_data=train_set.tensors[0][:256]),
            "bnn": to_binary(ann)}
    trained = {}
    adamw = torch.optim.AdamW
    for loop in (False, True):  # the study's update (foreach), then one parameter at a time
        if loop:
            monkeypatch.setattr(torch.optim, "AdamW", lambda *a, **k: adamw(*a, **{**k, "foreach": False}))
        for name, net in nets.items():
            model = pickle.loads(pickle.dumps(net))
            train_ann(model, train_set, TrainConfig(epochs=1, progress=False, seed=3))
            trained[(name, loop)] = model.state_dict()
    for name in nets:
        batched, looped = trained[(name, False)], trained[(name, True)]
        assert all(torch.equal(batched[k], looped[k]) for k in looped), name
