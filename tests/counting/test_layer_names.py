"""One layer name per call site in every form (#33 item 5): the per-layer frames of the ANN, its
quantized (QCFS), IF and OneSpike forms and ``onespike count`` join on ``name`` — a module's call is
its path in the ANN (its k-th call ``path#k``), a functional op ``<module it runs in>/<op>[#k]``;
the only rows a spiking form adds are the converter's own modules (the repeat of an analog current,
a shortcut's scale, a spikes-to-current scale, the readout)."""

import inspect
import json
import sys
import warnings

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analysis.cli import main
from analysis.counting import count_events
from analysis.models import build_model
from analysis.snn import to_binary, to_if_snn, to_onespike, to_quantized
from analysis.study.direct import deploy_direct
from analysis.study.networks import deploy_form, derive
from analysis.study.training import save_checkpoint

#: The module types a converter adds (rows only a spiking form has).
CONVERTER_PARTS = {"RepeatSteps", "RepeatGroups", "ShortcutScale", "MeanOverSteps"}
FORMS = ("ann", "qcfs", "if", "onespike")


class Block(nn.Module):
    """A torchvision-style block: a reused ``self.relu``, ``+=``."""

    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class Custom(nn.Module):
    """``F.relu`` at the top level and inside a branch, two blocks, ``torch.cat``, ``torch.flatten``."""

    def __init__(self, num_classes=10, in_channels=1, image_size=8):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(in_channels, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.layer1 = nn.Sequential(Block(4), Block(4))
        self.a, self.b = nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(8 * image_size * image_size, num_classes)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.layer1(x)
        y = torch.cat([F.relu(self.a(x)), F.relu(self.b(x))], dim=1)
        return self.fc(torch.flatten(y, 1))


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return F.relu6(self.conv(x.clamp(0))) + torch.relu(x)


class Functional(nn.Module):
    """No BatchNorm (its deploy form is itself: the ANN's op rows meet the converter's modules):
    clamp, relu6, torch.relu, +, cat, hardtanh, avg_pool2d, adaptive_avg_pool2d, mean, view, reshape."""

    def __init__(self):
        super().__init__()
        self.c1, self.inner, self.c2 = nn.Conv2d(1, 4, 3, padding=1), Inner(), nn.Conv2d(8, 4, 1)
        self.fc, self.fc2 = nn.Linear(4, 10), nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        x = self.inner(F.relu(self.c1(x)))
        x = F.relu(self.c2(torch.cat((x, F.hardtanh(x, 0, 2)), 1)))
        p = F.avg_pool2d(x, 2)
        a = F.adaptive_avg_pool2d(x, 1).view(x.size(0), -1)
        return self.fc(a) + self.fc(x.mean((2, 3))) + self.fc2(p.reshape(p.size(0), -1))


def rows(net: nn.Module, method: str, x: torch.Tensor) -> pd.DataFrame:
    with torch.no_grad(), count_events(net, method=method) as ledger:
        net(x)
    assert not ledger.unsupported, (method, ledger.unsupported)
    return ledger.to_frame()


def frames(ann: nn.Module, x: torch.Tensor, steps: int = 4) -> dict[str, pd.DataFrame]:
    """The per-layer frames of the four forms (and the INT8 ANN and the BNN) as a study counts them
    (every one in its deploy form: BN folded)."""
    ann.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qann = to_quantized(ann, steps, calibration_data=x).eval()
    nets = {"ann": deploy_form(ann)[0], "qcfs": deploy_form(qann)[0], "if": to_if_snn(qann, steps),
            "onespike": to_onespike(qann, steps), "int8": derive("int8", deploy_form(ann)[0], calibration=x),
            "bnn": deploy_form(to_binary(ann))[0]}
    return {form: rows(net, form, x) for form, net in nets.items()}


def assert_joins(found: dict[str, pd.DataFrame]) -> set[str]:
    """Every form has one row per name; the ANN's and the quantized ANN's names are the same set;
    each spiking form has every one of them, plus only rows of the converter's own modules; a name
    is the same kind of layer in every form. Returns the ANN's names."""
    for form, frame in found.items():
        assert frame["name"].is_unique, (form, frame["name"][frame["name"].duplicated()].tolist())
    ann = set(found["ann"]["name"])
    for form in ("qcfs", "int8", "bnn"):  # the ANN's shape with other activations: the same rows
        if form in found:
            assert set(found[form]["name"]) == ann, (form, set(found[form]["name"]) ^ ann)
    for form in ("if", "onespike"):
        frame = found[form]
        assert ann <= set(frame["name"]), (form, ann - set(frame["name"]))
        extra = frame[~frame["name"].isin(ann)]
        assert set(extra["module_type"]) <= CONVERTER_PARTS, (form, extra[["name", "module_type"]].values.tolist())
    kinds = found["ann"].set_index("name")["kind"]
    for form, frame in found.items():  # a call site is one kind of work in every form
        other = frame.set_index("name")["kind"].reindex(kinds.index)
        assert (other == kinds).all(), (form, kinds[other != kinds].index.tolist())
    joined = found["ann"][["name"]]
    for form in FORMS:  # the join a user writes: one row per ANN layer, every form's columns
        joined = joined.merge(found[form][["name", "mac", "ac"]].add_suffix(f"_{form}").rename(
            columns={f"name_{form}": "name"}), on="name", how="left", validate="one_to_one")
    assert len(joined) == len(ann) and not joined.isna().any().any()
    return ann


def test_a_custom_forward_with_functional_relu_add_and_cat_joins_in_all_four_forms():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 8, 8)
    found = frames(Custom(), x)
    names = assert_joins(found)
    assert names == {
        "stem", "/relu", "/relu#2", "/relu#3", "a", "b", "/cat", "/view", "fc",
        *(f"layer1.{i}.{part}" for i in (0, 1) for part in ("conv1", "relu", "conv2", "relu#2")),
        "layer1.0/add", "layer1.1/add",
    }
    # a name is the same call in every form: its events move as the method says, never to another row
    for form in FORMS:
        frame = found[form].set_index("name")
        assert frame.loc["fc", "mac"] + frame.loc["fc", "ac"] > 0
        assert frame.loc["layer1.0/add", "module_type"] in ("aten.add", "ResidualAdd")
    assert found["ann"].set_index("name").loc["layer1.0.relu#2", "cmp"] > 0  # the block's second ReLU
    assert found["onespike"].set_index("name").loc["layer1.0.relu#2", "module_type"] == "PSGLayer"


def test_functional_ops_are_named_as_the_op_they_run_as_in_every_form():
    torch.manual_seed(0)
    found = frames(Functional(), torch.rand(4, 1, 8, 8))
    assert assert_joins(found) == {
        "c1", "/relu", "inner/clamp", "inner.conv", "inner/hardtanh", "inner/relu", "inner/add", "/hardtanh", "/cat",
        "c2", "/relu#2", "/avg_pool2d", "/mean", "/view", "/mean#2", "fc", "fc#2", "/add", "/view#2", "fc2", "/add#2"}
    # the same call counts the same in the ANN (an operator) and the quantized ANN (a module); the
    # spiking forms do it once per step (T = G = 4)
    events = ["kind", "add", "shift", "mul", "cmp", "input_reads", "output_writes"]
    ann, qcfs, onespike = (found[f].set_index("name")[events] for f in ("ann", "qcfs", "onespike"))
    for name in ("/mean", "/mean#2", "/avg_pool2d", "inner/add", "/view"):
        assert ann.loc[name].equals(qcfs.loc[name]), name
        assert (onespike.loc[name, events[1:]] == 4 * ann.loc[name, events[1:]]).all(), name


class Shared(nn.Module):
    """One block (weights shared) called three times in a loop."""

    def __init__(self):
        super().__init__()
        self.c0, self.block, self.fc = nn.Conv2d(1, 4, 3, padding=1), Inner(), nn.Linear(256, 10)

    def forward(self, x):
        x = F.relu(self.c0(x))
        for _ in range(3):
            x = self.block(x)
        return self.fc(x.flatten(1))


def test_a_block_called_three_times_is_three_call_sites_in_every_form():
    """Each call of a shared block is a call site of its layers and of the ops in its forward
    (``block.conv#3``, ``block/add#3``), as ``torch.fx`` unrolls it for the converter."""
    torch.manual_seed(0)
    names = assert_joins(frames(Shared(), torch.rand(4, 1, 8, 8)))
    assert {f"block.conv{k}" for k in ("", "#2", "#3")} | {f"block/add{k}" for k in ("", "#2", "#3")} <= names


def test_every_layout_and_input_encoding_names_layers_alike():
    """The streaming IF layout runs the network once per step, the grouped OneSpike layout once per
    group: a step is no call site, so the names stay those of the ANN."""
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 8)
    ann = Custom().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qann = to_quantized(ann, 4, calibration_data=x).eval()
    names = set(rows(deploy_form(ann)[0], "ann", x)["name"])
    nets = ((to_if_snn(qann, 4, layout="stream"), "if"), (to_onespike(qann, 4, layout="grouped"), "onespike"),
            (to_onespike(qann, 4, input_encoding="spikes"), "onespike"))
    for net, method in nets:
        frame = rows(net, method, x)
        assert frame["name"].is_unique and names <= set(frame["name"])
        extra = frame[~frame["name"].isin(names)]
        encoder = extra["name"].isin(("encoder", "encoder.clamp", "encoder.repeat"))  # spike-encoded input
        assert set(extra[~encoder]["module_type"]) <= CONVERTER_PARTS, extra[["name", "module_type"]].values.tolist()


class Spellings(nn.Module):
    """Other spellings of the ops the converter knows (max pooling stays in the quantized ANN)."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4 * 2 * 2 + 4 * 4 * 4 + 8, 10)

    def forward(self, x):
        x = self.conv(x).relu()
        w = F.dropout(torch.add(torch.clip(x, 0, 3), x.clamp_min(0)), 0.1, False)
        a = F.adaptive_avg_pool2d(w, 2)
        return self.fc(torch.concat([a.flatten(1), F.max_pool2d(w, 2).flatten(1), a.sum((2, 3)),
                                     torch.relu_(a.clone()).mean((2, 3))], 1))


def test_other_spellings_are_named_alike_in_the_ann_and_its_quantized_form():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 8)
    ann = Spellings().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qann = to_quantized(ann, 4, calibration_data=x).eval()
    names = rows(deploy_form(ann)[0], "ann", x)["name"].tolist()
    assert names == rows(deploy_form(qann)[0], "qcfs", x)["name"].tolist()
    assert set(names) == {"conv", "/relu", "/clamp", "/clamp_min", "/add", "/max_pool2d", "/adaptive_avg_pool2d",
                          "/view", "/view#2", "/sum", "/relu#2", "/mean", "/cat", "fc"}


def test_the_zoo_resnet_joins_in_all_four_forms():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 8, 8)
    names = assert_joins(frames(build_model("resnet20", 10, 1, 8, width=2), x))
    assert {"stem.conv", "stem.relu", "layer1.0.main.conv1", "layer1.0.add", "layer1.0.act", "fc"} <= names
    assert not any(name.endswith(("bn", "bn1", "bn2")) for name in names)  # folded BN: a row in no form


def test_a_directly_trained_snn_and_its_onespike_form_name_layers_as_the_ann():
    """A direct SNN of the ANN's shape (its neurons wrapped to fold time in training) counts each
    neuron under the activation it stands for (``6``, not ``6.neuron``)."""
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 8)
    ann = build_model("cnn_small", 10, 1, 8).eval()
    direct = derive("direct_if", ann, steps=4)
    found = {"ann": rows(deploy_form(ann)[0], "ann", x),
             "direct_if": rows(deploy_direct(direct)[0], "direct_if", x),
             "direct_if_psg": rows(derive("direct_if_psg", direct, steps=4), "direct_if_psg", x)}
    names = set(found["ann"]["name"])
    for form in ("direct_if", "direct_if_psg"):
        frame = found[form]
        assert frame["name"].is_unique and names <= set(frame["name"]), (form, names - set(frame["name"]))
        assert set(frame[~frame["name"].isin(names)]["module_type"]) <= CONVERTER_PARTS, form


def test_an_unfolded_ann_adds_its_batchnorm_rows_and_nothing_else():
    """Counted as written (BN not folded), the ANN and its quantized form have the deploy form's
    rows plus one per BatchNorm that runs."""
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 8)
    ann = Custom().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qann = to_quantized(ann, 4, calibration_data=x).eval()
    deploy = set(rows(deploy_form(ann)[0], "ann", x)["name"])
    for net, method in ((ann, "ann"), (qann, "qcfs")):
        frame = rows(net, method, x)
        bn = frame[frame["module_type"] == "BatchNorm2d"]
        assert set(frame["name"]) - set(bn["name"]) == deploy and len(bn) == 5


def test_repeated_calls_of_a_time_stepped_network_are_its_steps():
    """A network that loops over its steps inside one forward calls a layer once per step: those
    calls share its row (the index is for call sites, not for steps)."""

    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.relu = nn.ReLU()

        def forward(self, x):
            return torch.stack([self.relu(self.fc(x[t])) + 1 for t in range(x.shape[0])])

    x = torch.rand(3, 2, 4)
    for method, expected in (("ann", {"fc", "fc#2", "fc#3", "relu", "relu#2", "relu#3", "/add", "/add#2", "/add#3"}),
                             ("if", {"fc", "relu", "/add"})):
        net = Loop()
        with torch.no_grad(), count_events(net, method=method) as ledger:
            net(x)
        assert {layer.name for layer in ledger.layers} == expected, method


NETS_HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    """The custom model as a user's package ``namingpkg.nets:Custom``, in the working folder."""
    (tmp_path / "namingpkg").mkdir()
    (tmp_path / "namingpkg" / "__init__.py").write_text("")
    (tmp_path / "namingpkg" / "nets.py").write_text(
        NETS_HEADER + inspect.getsource(Block) + "\n\n" + inspect.getsource(Custom))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in [m for m in sys.modules if m.split(".")[0] == "namingpkg"]:
        del sys.modules[name]


def test_onespike_count_names_layers_as_the_four_forms(user_package, capsys):
    """``onespike count`` of a user's network, as each method: its ledgers' names are those of the
    forms counted in process (the same join)."""
    torch.manual_seed(0)
    ann = Custom()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qann = to_quantized(ann, 4, calibrated_later=True)
    config = {"arch": "Custom", "model": "namingpkg.nets:Custom", "options": {}}
    save_checkpoint(user_package / "ann.pt", ann, {**config, "method": "ann"})
    save_checkpoint(user_package / "qcfs.pt", qann, {**config, "method": "qcfs", "levels": 4})
    found = {}
    for form in FORMS:
        out = user_package / f"{form}.json"
        checkpoint = "ann.pt" if form == "ann" else "qcfs.pt"
        code = main(["count", "--model", "namingpkg.nets:Custom", "--checkpoint", checkpoint, "--method", form,
                     "--timesteps", "4", "--samples", "8", "--hardware", "sata", "--json", str(out)])
        assert code == 0, capsys.readouterr().err
        found[form] = pd.DataFrame(json.loads(out.read_text())["layers"])
    capsys.readouterr()
    names = assert_joins(found)
    assert {"/relu", "layer1.0/add", "layer1.0.relu#2", "/cat", "fc"} <= names
