"""A synthetic run folder in the study's table schema, for the report tests (no network runs).

Numbers are chosen so that every answer has a known value: 360 test images, accuracies that are
whole counts over 360, energies that are fixed multiples of the quantized ANN's per hardware model
(OneSpike cheaper than QCFS under flops45nm and sata, dearer under spikesim), components in fixed
shares (sata: DRAM 90%), and PSG op counts per neuron per group of 1 mul, 1 mod, 2.32 add, 1 cmp.

Besides results and layers the folder holds what the pricing stage writes: ``hardware.csv`` (the
three models, primaries), ``warnings.csv``, and ``sensitivity.csv``: every network re-priced under
two alternatives of sata (``psum_bits=16``: every stepped method 1.5× dearer, which flips OneSpike <
QCFS; ``zero_skipping=on``: every energy 0.9×, which flips nothing) and one of spikesim
(``first_layer=once``: OneSpike 0.7×, which makes OneSpike cheaper than QCFS there).
``predictions=True`` adds ``predictions.csv`` (per image, consistent with the correct counts).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analysis.run_folder import RunFolder
from energy_models.ledger import EVENTS
from energy_models.report import COMPONENTS

TEST_SAMPLES = 360
LEVELS = 4
STEPS = [1, 2, 4, 8]
HARDWARE = ["flops45nm", "sata", "spikesim"]
#: arch: (dense MACs, spike-generating neurons)
ARCHS = {"cnn_small": (2.0e5, 3.0e3), "resnet_small": (1.2e6, 1.5e4)}
#: the SNN gain over the ANN a paper reports per hardware model (hardware.csv's ``published_gain``)
PUBLISHED_GAIN = {"flops45nm": "10–83× (a paper, FLOP estimate)", "sata": "2.3–6.8× (a paper, SATA)", "spikesim": ""}
#: energy per inference of the quantized ANN (pJ) per hardware model
BASE_PJ = {"flops45nm": 1.0e6, "sata": 5.0e5, "spikesim": 8.0e5}
#: energy relative to the quantized ANN at T = G = L, per hardware model
FACTOR = {
    "flops45nm": {"ann": 8.0, "qcfs": 1.0, "cq": 1.0, "if": 0.5, "onespike": 0.5, "bnn": 0.1},
    "sata": {"ann": 4.0, "qcfs": 1.0, "cq": 1.0, "if": 1.2, "onespike": 0.8, "bnn": 0.3},
    "spikesim": {"ann": 2.0, "qcfs": 1.0, "cq": 1.0, "if": 1.6, "onespike": 1.4, "bnn": 0.2},
}
#: component shares per hardware model (membrane memory only for the stepped methods, else activations)
SHARES = {
    "flops45nm": {"compute": 1.0},
    "sata": {"weight_memory": 0.93, "compute": 0.05, "membrane_memory": 0.02},  # weights fetched from DRAM
    "spikesim": {"interconnect": 0.5, "compute": 0.2, "neuron": 0.2, "weight_memory": 0.1},
}
#: correct test images (of 360) per (method, variant) at T = G = L; stepped methods scale with T below
CORRECT = {"ann": 351, "qcfs": 349, "cq": 347, "bnn": 319, "if": 300, "onespike": 349}
STEPPED = ("if", "onespike")
PSG_ADDS = 2.32
POOL_SHIFTS = 512.0
READOUT_SHIFTS = 10.0
#: relative IF error per layer (cnn_small); resnet_small doubles it
LAYER_ERRORS = [("conv1", 0.02, ""), ("act1", 0.05, ""), ("conv2", 0.15, "layer1.0"), ("act2", 0.40, "layer1.0")]


def correct_count(method: str, variant: str, steps: int, levels: int, arch_index: int) -> int:
    """Correct test images of one network (known, so tests can assert answers)."""
    count = CORRECT[method] - 3 * arch_index
    if method == "qcfs" and levels != LEVELS:
        count -= {1: 60, 2: 20, 5: 2, 8: -1}[levels]
    if method == "qcfs" and variant == "pow2":
        count -= 10
    if method in STEPPED and steps != LEVELS:
        count -= {1: 70, 2: 25, 8: -2, 5: 5}[steps]
    if variant == "per_group_binary":
        count -= 120
    if variant == "per_group_calibrated":
        count += 1
    return count


def _ops(method: str, variant: str, steps: int, macs: float, neurons: float) -> dict[str, float]:
    ops = dict.fromkeys(EVENTS, 0.0)
    if method in STEPPED:
        ops.update(ac=macs * steps * 0.12, add=PSG_ADDS * neurons * steps, cmp=neurons * steps,
                   spikes=0.12 * neurons * steps, weight_reads=macs * steps * 0.12,
                   vmem_reads=neurons * (steps if method == "if" else 1),
                   vmem_writes=neurons * (steps if method == "if" else 1))
        if method == "onespike":
            exact = variant != "hardware"
            ops.update(mul=neurons * steps * exact, mod=neurons * steps * exact, mask=neurons * steps * (not exact),
                       shift=POOL_SHIFTS + READOUT_SHIFTS)
    elif method == "bnn":
        ops.update(xnor=macs, popcount=macs, weight_reads=macs)
    else:
        ops.update(mac=macs, add=neurons, weight_reads=macs)
    return ops


def _shape(text: str) -> dict[str, int]:
    """A per-sample shape as the study writes it: integer height and width (a vector is 1 × 1)."""
    parts = [int(p) for p in text.split("x")]
    return {"in_channels": parts[0], "in_height": parts[1] if len(parts) == 3 else 1,
            "in_width": parts[2] if len(parts) == 3 else 1}


def _layers(unit: dict, ops: dict[str, float], neurons: float) -> list[dict]:
    """conv1 (8×8 input), act1 (PSG/IF), pool1, conv2 (1×1 input), act2, fc, readout."""
    psg = {"add": ops["add"] / 2, "mul": ops["mul"] / 2, "mod": ops["mod"] / 2, "mask": ops["mask"] / 2,
           "cmp": ops["cmp"] / 2, "spikes": ops["spikes"] / 2}
    layout = [
        ("conv1", "conv", "1x8x8", {"ac": ops["ac"] / 2, "mac": ops["mac"] / 2}, 10.0),
        ("act1", "neuron", "16x8x8", psg, neurons / 2),
        ("pool1", "pool", "16x8x8", {"shift": POOL_SHIFTS * (unit["method"] == "onespike")}, 256.0),
        ("conv2", "conv", "16x1x1", {"ac": ops["ac"] / 2, "mac": ops["mac"] / 2}, 10.0),
        ("act2", "neuron", "16x1x1", psg, neurons / 2),
        ("fc", "linear", "16", {}, 10.0),
        ("readout", "other", "10", {"shift": READOUT_SHIFTS * (unit["method"] == "onespike")}, 10.0),
    ]
    rows = []
    for index, (name, kind, shape, events, count) in enumerate(layout):
        row = {**unit, "name": name, "kind": kind, "index": index, **_shape(shape), "neurons": count,
               **dict.fromkeys(EVENTS, 0.0)}
        row.update(events if kind != "neuron" or unit["method"] in STEPPED else {})
        rows.append(row)
    return rows


def _units(methods: tuple[str, ...]) -> list[tuple[str, int, int, str]]:
    """(method, T, levels, variant) of every evaluated network."""
    units = []
    if "ann" in methods:
        units.append(("ann", 1, LEVELS, "default"))
    if "qcfs" in methods:
        units += [("qcfs", 1, levels, "default") for levels in (1, 2, 4, 5, 8)] + [("qcfs", 1, LEVELS, "pow2")]
    if "cq" in methods:
        units.append(("cq", 1, LEVELS, "default"))
    if "if" in methods:
        units += [("if", t, LEVELS, "default") for t in [*STEPS, 5]]
    if "onespike" in methods:
        for t in STEPS:
            units += [("onespike", t, t, v) for v in ("default", "exact_pow2", "hardware")]
            if t > 1:
                units += [("onespike", t, t, v) for v in ("per_group_calibrated", "per_group_binary")]
    if "bnn" in methods:
        units.append(("bnn", 1, 1, "default"))
    return units


def _energy(model: str, method: str, variant: str, steps: int) -> dict[str, float]:
    total = BASE_PJ[model] * FACTOR[model][method] * (steps / LEVELS if method in STEPPED else 1.0)
    total *= {"exact_pow2": 1.05, "per_group_binary": 1.1}.get(variant, 1.0)
    shares = dict(SHARES[model])
    if method not in STEPPED and "membrane_memory" in shares:
        shares["activation_memory"] = shares.pop("membrane_memory")
    return {component: total * shares.get(component, 0.0) for component in COMPONENTS}


#: Alternatives priced in sensitivity.csv: (headline model, name, what it changes, energy factor per method).
ALTERNATIVES = (
    ("sata", "psum_bits=16", "pre-activations (partial sums and membranes) stored at 16 bits",
     {"if": 1.5, "onespike": 1.5}),
    ("sata", "zero_skipping=on", "zero-skipping on (zero spikes and zero activations skipped alike)", {}),
    ("spikesim", "first_layer=once", "first layer once (a layer reused over sequential timesteps)",
     {"onespike": 0.7}),
)
#: Events each model prices at zero by construction (hardware.csv).
ZERO_BY_CONSTRUCTION = {"flops45nm": {"mul": "compute-only FLOP model", "mod": "compute-only FLOP model"},
                        "sata": {}, "spikesim": {"mul": "inside the fixed neuron energy per PE cycle",
                                                 "mod": "inside the fixed neuron energy per PE cycle"}}


def _hardware_table() -> pd.DataFrame:
    return pd.DataFrame([{
        "name": model, "headline": True, "family": model, "primary": True, "changes": "",
        "description": f"the {model} model", "paper": "Horowitz, ISSCC 2014" if model == "flops45nm" else "a paper",
        "repository": "", "technology": "45 nm", "published_gain": PUBLISHED_GAIN[model],
        "assumptions": json.dumps([f"{model} assumes this"]),
        "options": json.dumps({"zero_skipping": model != "sata"}),
        "zero_by_construction": json.dumps(ZERO_BY_CONSTRUCTION[model]),
    } for model in HARDWARE])


def _sensitivity(results: pd.DataFrame) -> pd.DataFrame:
    energy = ["energy_pj", *(f"{c}_pj" for c in COMPONENTS), "neuron_logic_pj"]
    keys = ["arch", "method", "T", "levels", "variant", "seed"]
    rows = []
    for model, name, changes, factors in ALTERNATIVES:
        base = results[results["hardware"] == model]
        scale = base["method"].map(factors).fillna(0.9 if name == "zero_skipping=on" else 1.0)
        frame = base[keys].assign(hardware=model, alternative=name, changes=changes, options=json.dumps({}))
        for column in energy:
            frame[column] = base[column] * scale
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def _predictions(results: pd.DataFrame) -> pd.DataFrame:
    """Per image: image i is right for a network with k correct iff i < k (so any two networks with
    correct counts k1 < k2 disagree on exactly k2 − k1 images, all in the second one's favour)."""
    rows = []
    keys = ["arch", "method", "T", "levels", "variant", "seed"]
    for _, unit in results.drop_duplicates(keys).iterrows():
        for sample in range(TEST_SAMPLES):
            label = sample % 10
            right = sample < int(unit["correct"])
            rows.append({**{k: unit[k] for k in keys}, "sample": sample, "label": label,
                         "predicted": label if right else (label + 1) % 10})
    return pd.DataFrame(rows)


def make_run(root: Path, methods: tuple[str, ...] = ("ann", "qcfs", "cq", "if", "onespike", "bnn"),
             seeds: tuple[int, ...] = (0,), optional_tables: bool = True, archs: tuple[str, ...] | None = None,
             predictions: bool = False) -> Path:
    """Write a complete synthetic run folder at ``root`` (through RunFolder) and return its path."""
    results, layers, warnings = [], [], []
    chosen = {a: v for a, v in ARCHS.items() if archs is None or a in archs}
    for arch_index, (arch, (macs, neurons)) in enumerate(chosen.items()):
        for method, steps, levels, variant in _units(methods):
            for seed in seeds:
                correct = correct_count(method, variant, steps, levels, arch_index) - seed
                ops = _ops(method, variant, steps, macs, neurons)
                unit = {"arch": arch, "method": method, "T": steps, "levels": levels, "variant": variant, "seed": seed}
                for model in HARDWARE:
                    components = _energy(model, method, variant, steps)
                    unpriced = ", ".join(f"{e}={ops[e]:.4g}" for e in ("shift", "mask", "cmp") if ops[e] > 0)
                    if unpriced:
                        warnings.append({**unit, "hardware": model,
                                         "warning": f"{model} does not price these events (per inference): {unpriced}"})
                    total = sum(components.values())
                    logic = total * 0.02 if method == "onespike" else 0.0
                    results.append({
                        **unit, "hardware": model, "accuracy": correct / TEST_SAMPLES, "test_samples": TEST_SAMPLES,
                        "correct": correct, "latency_steps": steps if method == "if" else 1,
                        "groups": steps if method == "onespike" else 1, "energy_pj": total,
                        **{f"{c}_pj": v for c, v in components.items()}, "neuron_logic_pj": logic,
                        **{f"ops_{e}": v for e, v in ops.items()}, "ops_mac_nonzero": 0.6 * ops["mac"],
                        "spike_rate": 0.12 if method in STEPPED else 0.0,
                        "convention_if_dataflow": "time_outer" if method == "if" and model == "sata" else "-",
                        "convention_weight_fetch": "resident on chip" if model == "sata" else "-",
                    })
                layers += _layers(unit, ops, neurons)
    results = pd.DataFrame(results)
    # exact PSG's mul/mod: the 5% exact_pow2 costs over hardware mode, 40% of its logic energy under sata;
    # priced at zero under flops45nm and spikesim (by construction)
    exact = (results["variant"] == "exact_pow2") & (results["method"] == "onespike")
    results.loc[exact, "neuron_logic_pj"] = results.loc[exact, "energy_pj"] * (0.05 / 1.05) / 0.4
    for model in ("flops45nm", "spikesim"):
        for column in ("energy_pj", *(f"{c}_pj" for c in COMPONENTS)):
            at = exact & (results["hardware"] == model)
            results.loc[at, column] = results.loc[at, column] / 1.05
    tables = {"results": results, "layers": pd.DataFrame(layers), "hardware": _hardware_table(),
              "warnings": pd.DataFrame(warnings), "sensitivity": _sensitivity(results)}
    if optional_tables:
        tables.update(_optional_tables(list(chosen)))
    if predictions:
        tables["predictions"] = _predictions(results)
    folder = RunFolder(root)
    folder.write_config(_payload(methods, seeds, list(chosen)))
    folder.write_tables(tables)
    return root


def _optional_tables(archs: list[str]) -> dict[str, pd.DataFrame]:
    equivalence, fidelity, errors, breakeven, sweep = [], [], [], [], []
    for arch_index, arch in enumerate(archs):
        for t in STEPS:
            equivalence.append({"arch": arch, "T": t, "onespike_max_abs_logit_diff": 0.0 if t == 1 else 3e-15 * t,
                                "onespike_agreement": 1.0, "if_max_abs_logit_diff": 0.9 / t + 0.05 * arch_index,
                                "if_agreement": 0.9 + 0.012 * t})
            for layer in ("act1", "act2"):
                fidelity += [{"T": t, "v_init": "v_init=θ/2", "neuron": "IF", "mae": 0.4 / t, "source": "recorded",
                              "arch": arch, "layer": layer},
                             {"T": t, "v_init": "v_init=θ/2", "neuron": "PSG", "mae": 0.1 / t, "source": "recorded",
                              "arch": arch, "layer": layer}]
            for i, (layer, relative, block) in enumerate(LAYER_ERRORS):
                errors.append({"arch": arch, "T": t, "layer": layer, "layer_index": i, "block": block,
                               "if_mean_abs_error": relative * (1 + arch_index) * 0.5, "activation_mean": 0.5,
                               "relative_error": relative * (1 + arch_index)})
        for model, sparsity, overhead in zip(HARDWARE, (0.62, float("nan"), 0.97), (0.75, float("nan"), 2.5),
                                             strict=True):
            breakeven.append({"arch": arch, "method": "if", "T": 5, "qnn_act_bits": 3, "hardware": model,
                              "break_even_sparsity": sparsity,
                              "reason": "" if sparsity == sparsity else
                              "the SNN costs more than the quantized ANN at every sparsity",
                              "measured_spike_rate": 0.12, "spike_event_pj_for_published": overhead,
                              "published_rate": 0.057})
            for spike_event_pj in (0.0, 1.0, 5.0):
                for s in (0.0, 0.5, 0.9, 1.0):
                    sweep.append({"arch": arch, "method": "if", "hardware": model, "spike_event_pj": spike_event_pj,
                                  "input_sparsity": s, "snn_energy_pj": 4e6 * (1 - s) * (1 + spike_event_pj) + 1e5,
                                  "qnn_energy_pj": 1.5e6, "ann_energy_pj": 1.2e6 if model == "sata" else 9e6})
    for t in STEPS:
        fidelity += [{"T": t, "v_init": "v_init=θ/2", "neuron": "IF", "mae": 0.3 / t, "source": "random", "arch": "",
                      "layer": ""},
                     {"T": t, "v_init": "v_init=θ/2", "neuron": "PSG", "mae": 0.2 / t, "source": "random",
                      "arch": "", "layer": ""}]
    worked = pd.DataFrame({"step": range(5), "input": [0.1, 0.1, 0.5, 1.9, 4.9], "if_spike": [0, 0, 0, 1, 1],
                           "psg_spike": [0, 1, 1, 1, 0]})
    return {**_onestep_tables(archs), "events": _events_table(), "equivalence": pd.DataFrame(equivalence),
            "fidelity": pd.DataFrame(fidelity),
            "worked_example": worked, "layer_errors": pd.DataFrame(errors), "breakeven": pd.DataFrame(breakeven),
            "sweep": pd.DataFrame(sweep),
            "yan2024_targets": pd.DataFrame([{"case": "T=5", "published_rate": 0.057, "our_rate": 0.38, "note": ""}])}


def _onestep_tables(archs: list[str]) -> dict[str, pd.DataFrame]:
    """Q14: directly trained IF (one step within 0.3 pp) and LIF SNNs (−0.5 pp per doubling of T)."""
    onestep, layers = [], []
    for arch in archs:
        for t in STEPS:
            for method, decay, reset, drop in (("direct_if", 1.0, "soft", 0.003), ("direct_lif", 0.5, "hard",
                                                                                   0.005 * t)):
                snn = 0.95
                rungs = {"snn": snn, "no_leak": snn - drop / 2, "psg_reset": snn - 3 * drop / 4,
                         "onestep": snn - drop, "hardware_onestep": snn - drop}
                if method == "direct_if":
                    rungs.update(no_leak=snn, psg_reset=snn)
                row = {"arch": arch, "method": method, "T": t, "seed": 0, "samples": TEST_SAMPLES, "decay": decay,
                       "reset": reset, "count_error": 0.01 * t if method == "direct_if" else 0.1 * t}
                for rung, accuracy in rungs.items():
                    row[f"{rung}_accuracy"] = accuracy
                    row[f"{rung}_agreement"] = 1.0 - (snn - accuracy) - 0.002 * (rung != "snn")
                onestep.append(row)
                layers += [{"arch": arch, "method": method, "T": t, "seed": 0, "layer": f"act{i}",
                            "snn_spikes": 100.0 * t, "onestep_spikes": 100.0 * t + i, "count_error": 0.05 * i,
                            "exact_neurons": 1.0 - 0.1 * i} for i in range(3)]
    return {"onestep": pd.DataFrame(onestep), "onestep_layers": pd.DataFrame(layers)}


def _events_table() -> pd.DataFrame:
    """Q15: the digit served by one step (within 2 pp of the SNN), the direction not (one step at the
    summed frames' ceiling of 50%, the SNN at 98%); energies per hardware model, one step 0.9× the SNN's."""
    rows = []
    for task, snn, one, chance, ceiling in (("digit", 0.80, 0.78, 0.1, 1.0), ("direction", 0.98, 0.50, 0.25, 0.5)):
        for t in (4, 8):
            for method in ("direct_if", "direct_lif"):
                for i, model in enumerate(HARDWARE):
                    rows.append({"task": task, "T": t, "method": method, "onestep_method": f"{method}_psg",
                                 "arch": "mlp", "seed": 0, "train_samples": 1437, "test_samples": TEST_SAMPLES,
                                 "snn_accuracy": snn, "onestep_accuracy": one, "agreement": 0.5 + one / 2,
                                 "chance_accuracy": chance, "onestep_ceiling": ceiling, "hardware": model,
                                 "snn_energy_pj": 1e4 * t * (i + 1), "onestep_energy_pj": 0.9e4 * t * (i + 1)})
    return pd.DataFrame(rows)


def _payload(methods: tuple[str, ...], seeds: tuple[int, ...], archs: list[str]) -> dict:
    return {
        "digest": "0123456789abcdef",
        "config": {"data": "digits", "archs": archs, "arch_options": {}, "methods": list(methods),
                   "levels": LEVELS, "timesteps": STEPS, "hardware": HARDWARE, "epochs_ann": 8, "epochs_bnn": 6,
                   "breakeven_timesteps": 5,
                   "seed": seeds[0], "seeds": len(seeds)},
        "data": {"name": "digits", "image_size": 8, "in_channels": 1, "num_classes": 10, "train_samples": 1437,
                 "test_samples": TEST_SAMPLES},
        "models": {arch: {"options": {"width": 8 * (i + 1)}, "parameters": 12_345 * (i + 1)}
                   for i, arch in enumerate(archs)},
    }
