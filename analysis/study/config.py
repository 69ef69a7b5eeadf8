"""What a study is: :class:`StudyConfig`, its validation and its digests.

Every field is checked when the config is made, before the study writes anything: names against
their registries (architectures, methods, data sets), steps against a documented maximum, the
device against what this machine has. ``compute_digest()`` covers the fields that change a trained
network or a counted unit (the run folder's identity and every cache key); the pricing-only fields
(``hardware``, the sweeps) can change without recomputing anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from analysis.methods import get_method, method_names
from analysis.models import available_models
from analysis.registry import unknown_name_message
from analysis.snn import check_weight_bits
from analysis.validate import check_int, is_integer

__all__ = ["DIGITS_ARCH_OPTIONS", "LIST_FIELDS", "MAX_STEPS", "ONE_THREAD_MAX_IMAGE_SIZE", "PRICING_FIELDS",
           "StudyConfig"]

#: Largest T (or G) a study accepts unless ``max_steps`` raises it: an IF SNN's memory and time grow
#: linearly with T, and 256 is well past every published conversion result (QCFS reports T <= 128).
MAX_STEPS = 256

#: Images of at most this many pixels a side (digits' 8x8) train and run on one torch thread: their
#: tensors (e.g. 64x16x8x8) are too small for intra-op threads to pay for their synchronisation. On 2
#: shared cores the quick study took 84 s with 2 threads and 18 s with 1 (CPU 62 s vs 14 s).
ONE_THREAD_MAX_IMAGE_SIZE = 16

#: Fields that change only how counted ledgers are priced and tabled, never a network or a ledger.
PRICING_FIELDS: tuple[str, ...] = ("hardware", "sparsity_sweep", "spike_event_sweep", "breakeven_timesteps")

# Small widths keep the default study (digits, 8x8) inside its time budget; a user's config may
# set any builder option per architecture.
DIGITS_ARCH_OPTIONS: dict[str, dict[str, Any]] = {
    "cnn_small": {"width": 16},
    "vgg11": {"width": 8},
    "vgg16": {"width": 8},
    "resnet20": {"width": 8},
    "resnet18": {"width": 8},
    "resnet34": {"width": 4},
    # RepVGG-A0's 14-block stage would run on a 1x1 map at 8x8 input and does not train on digits
    # (ANN 83%, QCFS 37%); a shallower RepVGG-style net keeps the multi-branch blocks that Q12 asks about.
    "repvgg_a0": {"width": 16, "blocks": (1, 2, 2, 2, 1)},
    "mlp": {},
}

DATA_SETS = ("digits", "cifar10", "cifar100", "imagenet", "synthetic")

#: The largest seed a study accepts: numpy's and scikit-learn's generators take 32-bit seeds.
MAX_SEED = 2**32 - 1
#: Longest name a user's own model may be given (``--arch``): it names the checkpoints in ``cache/``.
MAX_ARCH_NAME = 64
#: A user's model name: letters, digits, ``_``, ``-`` and ``.`` (a module-like ``my_pkg.net``), starting
#: with a letter or digit. No ``/``, ``\\`` or ``..``: the name becomes a file name in ``cache/``.
SAFE_ARCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_arch_name(name: object) -> str:
    """``name`` if it can name a user's model (:data:`SAFE_ARCH_NAME`, at most :data:`MAX_ARCH_NAME`
    characters, no ``..``), else a one-line ValueError naming it and the fix."""
    if (not isinstance(name, str) or not SAFE_ARCH_NAME.fullmatch(name) or ".." in name
            or len(name) > MAX_ARCH_NAME):
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        raise ValueError(f"--arch {shown} cannot name your model: it names files in the run folder, so use at most "
                         f"{MAX_ARCH_NAME} letters, digits, '_', '-' or '.' (no '/', no '..'), e.g. --arch my_net")
    return name


#: The config fields that hold lists, and the type of their items (a JSON config gives them as arrays).
LIST_FIELDS: dict[str, type | tuple[type, ...]] = {
    "archs": str, "methods": str, "timesteps": int, "hardware": str, "checkpoints": str,
    "sparsity_sweep": (int, float), "spike_event_sweep": (int, float), "direct_archs": str,
    "event_timesteps": int,
}
#: An example value of each list field, for the message that refuses a non-list.
LIST_EXAMPLES: dict[str, str] = {
    "archs": '["cnn_small"]', "methods": '["ann", "qcfs", "onespike"]', "timesteps": "[1, 2, 4]",
    "hardware": '["sata"]', "checkpoints": '["weights.pt"]', "sparsity_sweep": "[0.0, 0.5, 0.9]",
    "spike_event_sweep": "[0.0, 1.0]", "direct_archs": '["cnn_small"]',
}
#: The config fields that hold a string (or None where the default is None).
TEXT_FIELDS: tuple[str, ...] = ("data", "data_root", "device", "model", "event_arch", "event_data_root")


def _check_types(config: StudyConfig) -> None:
    """Refuse a value of the wrong JSON type by name before it is used: a string where a list
    belongs would otherwise be iterated per character (``"archs": "cnn_small"`` -> 'c', 'n', ...)."""
    for name, item in LIST_FIELDS.items():
        value = getattr(config, name)
        if isinstance(value, tuple):
            value = list(value)
            setattr(config, name, value)
        if not isinstance(value, list):
            example = LIST_EXAMPLES.get(name, "[1, 2, 4]")
            raise ValueError(f"{name} must be a list (e.g. {example}), got {type(value).__name__} {value!r}")
        numeric = np.integer if item is int else np.integer | np.floating
        bad = [v for v in value if isinstance(v, bool) or not (isinstance(v, item) or (
            item is not str and isinstance(v, numeric)))]
        if bad:
            kind = {str: "strings", int: "integers"}.get(item, "numbers")
            raise ValueError(f"{name} must be a list of {kind}, got {bad[0]!r} in {value!r}")
        if item is str and any(not v.strip() for v in value):
            raise ValueError(f"{name} holds an empty name: {value!r}")
    for name in TEXT_FIELDS:
        value = getattr(config, name)
        if not (isinstance(value, str) or (value is None and name not in ("data", "device", "event_arch"))):
            raise ValueError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    if not isinstance(config.arch_options, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in config.arch_options.items()):
        raise ValueError("arch_options must map architecture names to option objects, e.g. "
                         f'{{"cnn_small": {{"width": 16}}}}, got {config.arch_options!r}')


@dataclass
class StudyConfig:
    """Everything that determines a study's numbers (the run folder does not).

    ``timesteps`` are the T of the IF SNN and the G of OneSpike (at most ``max_steps``). ``levels``
    is L of the quantized ANN both are converted from. ``hardware`` names the headline models:
    ``["primary"]`` (every family's primary model; the default), ``["all"]`` or model names / TOML
    paths. ``count_samples`` limits how many test samples each ledger averages over (None: all).
    ``seeds`` repeats training and evaluation with seeds ``seed, seed+1, ...``.
    ``model``/``checkpoints`` study a user's network: ``model`` is ``"package.module:factory"``
    (called with ``num_classes, in_channels, image_size`` if it takes them), ``checkpoints`` are
    weight files whose recorded method (ann, qcfs, cq, bnn; a bare state dict is an ANN) replaces
    that method's training. ``finetune_epochs`` (None: ``epochs_quant``) fine-tunes the quantized
    net made from given ANN weights. ``weight_bits``: the width every evaluated network's weights
    are quantized to (per channel, symmetric, in deploy form; 2..16, or 32 for float weights),
    except the methods that fix their own (the FP32 ANN 32, the INT8 ANN 8) and a BNN's binary
    layers (1).

    ``epochs_ann`` is a cap: the ANN, trained from scratch, stops earlier by the plateau rule
    (:mod:`~analysis.study.plateau`) once the validation accuracy (on a seeded tenth of the training
    set) has not risen by ``plateau_delta`` for ``plateau_patience`` epochs, and keeps its best
    validation epoch (``plateau_patience=None``: every epoch, on the whole training set).
    ``epochs_quant`` and ``epochs_bnn`` are budgets the networks made from the trained ANN's weights
    run in full, on the whole training set, with the learning rate annealed to zero: stopped at a
    plateau while the rate is still high, they lost up to 6 points (ResNet-20's QCFS fine-tune) and
    5-9 points (BNNs, whose validation accuracy drifts up inside a few points of noise) on digits.
    ``threads``: torch CPU threads (None: one for images of at most
    :data:`ONE_THREAD_MAX_IMAGE_SIZE` pixels a side, else torch's default); like ``device``, it
    changes where the arithmetic runs, not what it computes, and is outside the compute digest.
    The directly trained SNNs (methods of training kind
    ``direct``) train ``epochs_direct`` epochs at every T up to ``direct_max_steps`` (BPTT costs T
    forward passes per step), for the architectures ``direct_archs`` (empty: the first one).
    ``events`` (Q15, :mod:`~analysis.study.events`): the directly trained methods are also trained
    on event data fed one frame per step (the moving digits' two tasks, and N-MNIST from
    ``event_data_root`` when given), ``event_epochs`` epochs of the architecture ``event_arch`` at
    each T of ``event_timesteps``, and compared with their one-step forms.
    """

    data: str = "digits"
    data_root: str | None = None
    subset: int | None = None
    archs: list[str] = field(default_factory=lambda: ["cnn_small", "vgg11", "resnet20", "repvgg_a0"])
    arch_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    methods: list[str] = field(default_factory=lambda: list(method_names()))
    levels: int = 4
    weight_bits: int = 8
    timesteps: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32])
    max_steps: int = MAX_STEPS
    hardware: list[str] = field(default_factory=lambda: ["primary"])
    epochs_ann: int = 15
    epochs_quant: int = 10
    epochs_bnn: int = 25
    plateau_patience: int | None = 4
    plateau_delta: float = 0.01
    finetune_epochs: int | None = None
    epochs_direct: int = 3
    direct_max_steps: int = 8
    direct_archs: list[str] = field(default_factory=list)
    lr: float = 3e-3
    batch_size: int = 64
    count_samples: int | None = None
    sparsity_sweep: list[float] = field(default_factory=lambda: [round(x, 2) for x in np.linspace(0, 1, 21)])
    spike_event_sweep: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0])
    breakeven_timesteps: int = 5
    seed: int = 0
    seeds: int = 1
    device: str = "cpu"
    threads: int | None = None
    model: str | None = None
    checkpoints: list[str] = field(default_factory=list)
    events: bool = True
    event_timesteps: list[int] = field(default_factory=lambda: [4, 8])
    event_epochs: int = 15
    event_arch: str = "mlp"
    event_data_root: str | None = None

    def __post_init__(self) -> None:
        _check_types(self)
        for name in self.methods:
            get_method(name)  # unknown names: a did-you-mean error
        if not self.methods:
            raise ValueError("methods must name at least one method")
        self.max_steps = check_int("max_steps", self.max_steps, 1)
        hint = f" (raise the limit with --max-steps, now {self.max_steps})"
        self.timesteps = sorted({check_int("timesteps", t, 1, self.max_steps, hint) for t in self.timesteps})
        if not self.timesteps:
            raise ValueError("timesteps must name at least one T, e.g. 1,2,4,8")
        self.levels = check_int("levels", self.levels, 1, self.max_steps, hint)
        self.weight_bits = check_weight_bits("weight_bits", self.weight_bits)
        self.breakeven_timesteps = check_int("breakeven_timesteps", self.breakeven_timesteps, 1, self.max_steps,
                                              hint)
        self.direct_max_steps = check_int("direct_max_steps", self.direct_max_steps, 1, self.max_steps, hint)
        unknown = [a for a in self.direct_archs if a not in self.archs]
        if unknown:
            raise ValueError(f"direct_archs {unknown} are not among the study's archs {self.archs}")
        if not isinstance(self.events, bool):
            raise ValueError(f"events must be true or false (Q15 on event data), got {self.events!r}")
        self.event_timesteps = sorted({check_int("event_timesteps", t, 1, self.max_steps, hint)
                                       for t in self.event_timesteps})
        if self.events and not self.event_timesteps:
            raise ValueError("event_timesteps must name at least one T (frames per sample), e.g. 4,8; or set events "
                             "to false")
        if self.event_arch not in available_models():
            raise ValueError(unknown_name_message("architecture", self.event_arch, available_models())
                             + " (event_arch: the network Q15 trains on event data)")
        if self.event_data_root is not None and not Path(self.event_data_root).expanduser().is_dir():
            raise FileNotFoundError(f"event_data_root {self.event_data_root!r} is not a folder; give the N-MNIST "
                                    "folder holding Train/<digit>/*.bin and Test/<digit>/*.bin")
        for name in ("epochs_ann", "epochs_quant", "epochs_bnn", "epochs_direct", "event_epochs"):
            setattr(self, name, check_int(name, getattr(self, name), 0))
        if self.finetune_epochs is not None:
            self.finetune_epochs = check_int("finetune_epochs", self.finetune_epochs, 0)
        if self.plateau_patience is not None:
            self.plateau_patience = check_int("plateau_patience", self.plateau_patience, 1)
        if isinstance(self.plateau_delta, bool) or not (isinstance(self.plateau_delta, int | float)
                                                        and 0 <= self.plateau_delta < 1):
            raise ValueError(f"plateau_delta must be a fraction of accuracy in [0, 1), got {self.plateau_delta!r}")
        if self.threads is not None:
            self.threads = check_int("threads", self.threads, 1, os.cpu_count() or 1)
        self.batch_size = check_int("batch_size", self.batch_size, 1)
        # every random generator (numpy, scikit-learn's split) takes a 32-bit seed; seed + k for k < seeds
        self.seed = check_int("seed", self.seed, 0, MAX_SEED - self.seeds + 1 if is_integer(self.seeds) else MAX_SEED,
                              hint=" (numpy's and scikit-learn's generators take 32-bit seeds): choose a smaller "
                              "--seed")
        self.seeds = check_int("seeds", self.seeds, 1, 100)
        if self.subset is not None:
            self.subset = check_int("subset", self.subset, 1)
        if self.count_samples is not None:
            self.count_samples = check_int("count_samples", self.count_samples, 1)
        if not (isinstance(self.lr, int | float) and 0 < self.lr < 10):
            raise ValueError(f"lr must be a number in (0, 10), got {self.lr!r}")
        if self.data not in DATA_SETS:
            raise ValueError(unknown_name_message("data set", self.data, list(DATA_SETS)))
        if not self.archs:
            raise ValueError("archs must name at least one architecture")
        if self.model is None:
            for arch in self.archs:
                if arch not in available_models():
                    raise ValueError(unknown_name_message("architecture", arch, available_models()))
        elif len(self.archs) != 1:
            raise ValueError(f"with model={self.model!r}, archs must be one name for it, got {self.archs}")
        elif check_arch_name(self.archs[0]) in available_models():
            raise ValueError(f"--arch {self.archs[0]!r} names a zoo architecture, but --model {self.model!r} is your "
                             "own network: give it a name of its own (e.g. --arch my_net), so that its tables and "
                             "checkpoints are never taken for the zoo's")
        if not self.hardware:
            raise ValueError("hardware must name at least one hardware model ('primary', 'all', sata, ...; "
                             "`onespike hardware` lists them)")
        for path in self.checkpoints:
            if Path(path).is_dir():
                raise ValueError(f"checkpoint {path!r} is a folder; give the checkpoint file in it (e.g. "
                                 f"{str(Path(path) / 'weights.pt')!r})")
            if not Path(path).is_file():
                raise FileNotFoundError(f"checkpoint {path!r} does not exist")
        for values, name in ((self.sparsity_sweep, "sparsity_sweep"),):
            if any(not 0 <= float(v) <= 1 for v in values):
                raise ValueError(f"{name} values must lie in [0, 1], got {values}")
        if any(float(v) < 0 for v in self.spike_event_sweep):
            raise ValueError(f"spike_event_sweep values must be >= 0 pJ, got {self.spike_event_sweep}")
        self.device = _check_device(self.device)

    # -- derived -------------------------------------------------------------------------------
    @classmethod
    def quick(cls, **overrides: Any) -> StudyConfig:
        """A small study for tests and a first look (at most 30 s on 2 cores, ``benchmarks/study_time.py``)."""
        base = dict(
            archs=["cnn_small"],
            timesteps=[1, 2, 4, 8],
            epochs_ann=8,
            epochs_quant=3,
            epochs_bnn=6,
            # the directly trained SNNs (Q14) at T <= 4: BPTT costs T forward passes per step, and
            # T = 8 alone took half of the quick study's time
            direct_max_steps=4,
            epochs_direct=2,
            # Q15's event SNNs: one T, five epochs of the MLP (BPTT over the frames): 2.5 CPU s
            event_timesteps=[4],
            event_epochs=5,
            count_samples=128,
            sparsity_sweep=[0.0, 0.25, 0.5, 0.75, 0.9, 1.0],
            spike_event_sweep=[0.0, 1.0, 3.0, 10.0],
        )
        base.update(overrides)
        return cls(**base)

    def threads_for(self, image_size: int) -> int:
        """Torch CPU threads for a study on images of ``image_size`` pixels a side (see ``threads``)."""
        import torch

        if self.threads is not None:
            return self.threads
        return 1 if image_size <= ONE_THREAD_MAX_IMAGE_SIZE else torch.get_num_threads()

    def options_for(self, arch: str) -> dict[str, Any]:
        if arch in self.arch_options:
            return dict(self.arch_options[arch])
        if self.model is None and self.data == "digits":
            return dict(DIGITS_ARCH_OPTIONS.get(arch, {}))
        return {}

    @property
    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyConfig:
        if not isinstance(data, dict):
            raise ValueError(f"a study config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            import difflib

            hints = [f"{u!r} (did you mean {difflib.get_close_matches(u, known, 1)[0]!r}?)"
                     if difflib.get_close_matches(u, known, 1) else repr(u) for u in unknown]
            raise ValueError(f"unknown study config key(s) {', '.join(hints)}; known keys: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> StudyConfig:
        """A config from a JSON file of its fields, or from a run folder's ``config.json`` (or the
        run folder itself), whose ``"config"`` object is the config that study ran."""
        path = Path(path)
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise FileNotFoundError(f"study config {str(path)!r} is a folder without config.json: give a JSON "
                                        "file, or a run folder written by `onespike study`")
            path = path / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"study config {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"study config {str(path)!r} is not valid JSON: {exc}") from None
        if isinstance(data, dict) and "compute_digest" in data and isinstance(data.get("config"), dict):
            data = data["config"]  # a run folder's config.json: the study config it ran
        try:
            return cls.from_dict(data)
        except TypeError as exc:  # a config of the wrong shape reaching a field's type check
            raise ValueError(f"study config {str(path)!r}: {exc}") from None

    def digest(self) -> str:
        """A short hash of the whole config."""
        return _hash(self.to_dict())

    def compute_digest(self) -> str:
        """A short hash of the fields that change a network or a counted unit (not the pricing-only
        :data:`PRICING_FIELDS`, nor ``device`` and ``threads``, which change only where the arithmetic
        runs)."""
        data = {k: v for k, v in self.to_dict().items() if k not in (*PRICING_FIELDS, "device", "threads")}
        data["checkpoints"] = [_file_hash(p) for p in self.checkpoints]
        return _hash(data)


    def pricing_digest(self) -> str:
        """A short hash of the pricing-only fields (:data:`PRICING_FIELDS`), a user table by its bytes:
        the key of the cached units that hold priced rows (Q7's break-even and sweep), so that a study
        resumed with another ``--hardware`` or sweep re-prices them instead of reading the old ones."""
        data = {k: v for k, v in self.to_dict().items() if k in PRICING_FIELDS}
        data["hardware"] = [_file_hash(h) if Path(h).is_file() else h for h in self.hardware]
        return _hash(data)[:8]


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _check_device(device: str) -> str:
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this machine has no CUDA device; use --device cpu")
    if parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r}: only cpu and cuda are supported")
    return str(device)
