"""ZigZag's shipped accelerator templates, a user's accelerator YAML, and the one-line error when
ZigZag is not installed.

Nothing here imports ZigZag: the templates are found through the installed package's location
(``importlib.util.find_spec``), so ``onespike hardware`` lists them and a ``zigzag:`` name is
checked without loading the engine. :func:`require_zigzag` loads the mapping pipeline
(:mod:`energy_models.zigzag.mapping`, which imports ZigZag) when a ``zigzag:`` model is built.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

#: The prefix of every ZigZag-backed model name: ``zigzag:<template>`` or ``zigzag:<path/to/accelerator.yaml>``.
PREFIX = "zigzag:"
#: What to install for the ``zigzag:`` models (zigzag-dse 3.9.1 imports ``six`` without declaring it).
INSTALL_HINT = "pip install 'onespike-study[zigzag]' (zigzag-dse and six)"
#: The mapping file a template without its own uses (ZigZag's default: K on D1, C on D2).
DEFAULT_MAPPING = "default.yaml"


@dataclass(frozen=True)
class Template:
    """A shipped ZigZag accelerator: its hardware and mapping files (in ZigZag's ``inputs``) and what it is."""

    name: str
    hardware: str
    mapping: str
    description: str


#: Every conv-mapping template zigzag-dse 3.9.1 ships, with the mapping file it ships for it. Not listed:
#: ``gemm_l1``/``gemm_l1_l3`` (their mappings unroll a GEMM's D0/D1/D2 loops, none of a conv's: a conv maps on
#: one PE), ``aimc``/``dimc`` (in-memory computing: ZigZag's IMC cost model and mapping stages, not this
#: pipeline's), ``generic_array_cacti`` (sized by CACTI).
TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("eyeriss_like", "eyeriss_like.yaml", DEFAULT_MAPPING,
             "Eyeriss-like: 14 x 12 PEs, per-PE 64 B input/weight and 16 B psum RFs, 8 KB/64 KB/1 MB SRAMs, DRAM"),
    Template("tpu_like", "tpu_like.yaml", "tpu_like.yaml",
             "TPU-like: 32 x 32 systolic array, 128 B weight RF per PE, 2 MB activation SRAM, DRAM"),
    Template("edge_tpu_like", "edge_tpu_like.yaml", "edge_tpu_like.yaml",
             "Edge-TPU-like: 8 x 8 x 4 x 4 PEs, 32 KB weight and 2 MB activation SRAMs, DRAM"),
    Template("ascend_like", "ascend_like.yaml", "ascend_like.yaml",
             "Ascend-like: 16 x 16 x 2 x 2 PEs, 64 KB input/weight RFs, 256 KB/1 MB SRAMs, DRAM"),
    Template("tesla_npu_like", "tesla_npu_like.yaml", "tesla_npu_like.yaml",
             "Tesla-NPU-like: 32 x 32 x 4 PEs, 1 KB input/weight SRAMs, 1 MB activation/weight SRAMs, DRAM"),
    Template("meta_prototype", "meta_prototype.yaml", "meta_prototype_like.yaml",
             "Meta-prototype-like: 32 x 2 x 4 x 4 PEs, 64 KB/32 KB SRAMs, 1 MB activation/weight SRAMs, DRAM"),
)}


def zigzag_installed() -> bool:
    """Whether ZigZag (zigzag-dse) and ``six`` can be imported (checked without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("zigzag", "six"))


def inputs_folder() -> Path:
    """ZigZag's ``inputs`` folder (hardware and mapping templates) of the installed package."""
    spec = importlib.util.find_spec("zigzag")
    if spec is None or spec.origin is None:
        raise ValueError(f"ZigZag is not installed; {INSTALL_HINT}")
    return Path(spec.origin).parent / "inputs"


def require_zigzag(name: str) -> ModuleType:
    """The mapping pipeline (:mod:`energy_models.zigzag.mapping`, which imports ZigZag), or a one-line
    ``ValueError`` naming the model and the install when ZigZag or ``six`` is missing."""
    if not zigzag_installed():
        raise ValueError(f"hardware model {name!r} needs ZigZag, which is not installed: {INSTALL_HINT}")
    return importlib.import_module("energy_models.zigzag.mapping")


def is_zigzag_name(name: object) -> bool:
    """Whether ``name`` is a ZigZag model name (``zigzag:...``)."""
    return isinstance(name, str) and name.startswith(PREFIX)


def resolve(name: str) -> tuple[str, str, str]:
    """``(template label, hardware YAML path, mapping YAML path)`` of ``zigzag:<template>`` or
    ``zigzag:<path/to/accelerator.yaml>`` (a user's accelerator is mapped with ZigZag's default
    mapping file unless a ``<stem>.mapping.yaml`` lies beside it)."""
    if not is_zigzag_name(name):
        raise ValueError(f"{name!r} is not a ZigZag model name; expected '{PREFIX}<template>' with a template of "
                         f"{', '.join(TEMPLATES)}, or '{PREFIX}path/to/accelerator.yaml'")
    target = name[len(PREFIX):]
    if target.endswith((".yaml", ".yml")):
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"hardware model {name!r}: no accelerator file {path}; give an existing ZigZag "
                             f"accelerator YAML or one of the templates {', '.join(TEMPLATES)}")
        beside = path.with_name(f"{path.stem}.mapping.yaml")
        mapping = beside if beside.is_file() else inputs_folder() / "mapping" / DEFAULT_MAPPING
        return path.stem, str(path.resolve()), str(mapping.resolve())
    if target not in TEMPLATES:
        close = difflib.get_close_matches(target, list(TEMPLATES), n=2, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(PREFIX + c) for c in close)}?" if close else ""
        raise ValueError(f"unknown ZigZag template {target!r}.{hint} Templates: {', '.join(TEMPLATES)}; or "
                         f"'{PREFIX}path/to/accelerator.yaml'")
    template = TEMPLATES[target]
    folder = inputs_folder()
    return target, str(folder / "hardware" / template.hardware), str(folder / "mapping" / template.mapping)


def template_names() -> tuple[str, ...]:
    """Every ``zigzag:<template>`` model name."""
    return tuple(PREFIX + name for name in TEMPLATES)
