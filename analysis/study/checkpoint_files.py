"""Checkpoint files: written atomically with the config they were made with
(:func:`save_checkpoint`), read back with ``torch.load(weights_only=True)`` (:func:`load_checkpoint`;
a file that would run code when unpickled is refused), and checked before any weights are used:
the recorded config against the command line's bounds, the weights for NaN/Inf and damaged batch
norms, the data set they were trained on, and whether they fit the model (every mismatch named).
Every refusal is a :class:`CheckpointError`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

try:
    import resource  # POSIX: the file-size limit a failed write may have hit
except ImportError:  # pragma: no cover - Windows
    resource = None

from analysis.methods import method_names
from analysis.run_folder import new_file_mode
from analysis.study.config import MAX_STEPS
from analysis.study.hints import input_hint
from analysis.validate import check_choice

__all__ = [
    "CheckpointError",
    "check_checkpoint_config",
    "check_finite_state",
    "check_given_weights",
    "check_trained_on",
    "load_checkpoint",
    "load_weights",
    "save_checkpoint",
    "weights_mismatch",
]


class CheckpointError(ValueError):
    """A checkpoint is missing, unsafe, malformed, or for another architecture."""



def save_checkpoint(path: str | os.PathLike, model: nn.Module, config: Mapping[str, Any]) -> Path:
    """Write ``{"state_dict", "config_json"}`` atomically (temporary file, then rename).

    ``config`` must be JSON-serialisable; it should name the ``arch`` so loading can check it. A
    write that fails (a full disk, a file-size limit) is an ``OSError`` naming the file and the
    cause, and leaves no partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config_json": json.dumps(dict(config), sort_keys=True, default=_json_default),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.chmod(tmp, new_file_mode())  # the umask's permissions, as every file of the run (not mkstemp's 0600)
        os.replace(tmp, path)
    except (RuntimeError, OSError) as exc:  # torch reports a failed write as a RuntimeError
        size = sum(v.numel() * v.element_size() for v in payload["state_dict"].values())
        raise OSError(f"cannot write checkpoint {str(path)!r} ({size / 1e6:.3g} MB): "
                      f"{_write_failure(exc, path.parent, size)}; free disk space (or raise the file-size limit, "
                      "`ulimit -f`) and rerun: the study resumes") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _write_failure(exc: BaseException, folder: Path, size: int) -> str:
    """Why a write of ``size`` bytes into ``folder`` failed, in a few words: the file-size limit, a
    full disk, or the system's own reason (torch's message is a C++ assertion)."""
    if resource is not None:
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and limit < size * 1.1:
            return f"the file-size limit (ulimit -f) is {limit / 1e6:.3g} MB"
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < size * 1.1:
        return f"the disk holding {str(folder)!r} has {free / 1e6:.3g} MB free"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"torch.save failed ({' '.join(str(exc).split())[:200]})"


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"checkpoint config value {obj!r} is not JSON-serialisable")


def _few(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def weights_mismatch(model: nn.Module, state: Mapping[str, Any]) -> str | None:
    """Why ``state`` does not fit ``model``, in one line (missing keys, unexpected keys, shapes),
    or None when it fits."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {list(state[k].shape)} in the checkpoint vs {list(own[k].shape)} in the model"
              for k in own if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != own[k].shape]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s) {_few(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s) {_few(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch(es): {'; '.join(shapes[:3])}" + (" ..." if len(shapes) > 3 else ""))
    return "; ".join(parts) or None


def load_weights(model: nn.Module, state: Mapping[str, Any], source: str, what: str = "this model") -> nn.Module:
    """Load ``state`` into ``model``; a :class:`CheckpointError` naming ``source``, ``what`` and
    every mismatch (missing and unexpected keys, shapes) when it does not fit."""
    problem = weights_mismatch(model, state)
    if problem is None:
        try:
            model.load_state_dict(state)
            return model
        except RuntimeError as exc:
            problem = " ".join(str(exc).split())
    raise CheckpointError(f"{source} does not fit {what}: {problem}{input_hint(model, state)}")



def check_finite_state(state: Mapping[str, Any], source: str) -> None:
    """A :class:`CheckpointError` naming the tensors of ``state`` that hold NaN or Inf values."""
    bad = [(k, int((~torch.isfinite(v)).sum())) for k, v in state.items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        listed = ", ".join(f"{k!r} ({n})" for k, n in bad[:4]) + (f" (+{len(bad) - 4} more)" if len(bad) > 4 else "")
        raise CheckpointError(f"{source} holds NaN/Inf weights in {len(bad)} tensor(s): {listed}; training from it "
                              "would only spread them: give weights saved before the run diverged")
    negative = [(k, float(v.min())) for k, v in state.items() if str(k).endswith("running_var")
                and isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel() and bool((v < 0).any())]
    if negative:
        key, low = negative[0]
        raise CheckpointError(f"{source}: batch norm {key!r} holds a negative variance ({low:.4g}; {len(negative)} "
                              "tensor(s) in all), which no training writes: the file is damaged or was edited; give "
                              "the weights as training saved them")


def check_given_weights(state: Mapping[str, Any], meta: Mapping[str, Any], data: str, source: str) -> None:
    """:func:`check_finite_state` and :func:`check_trained_on` of a checkpoint a user gave."""
    check_finite_state(state, source)
    check_trained_on(meta, data, source)


def check_trained_on(meta: Mapping[str, Any], data: str, source: str) -> None:
    """A :class:`CheckpointError` when a checkpoint records that it was trained on another data set
    than ``data`` (its input size and classes would not fit), naming the ``--data`` to pass."""
    recorded = meta.get("input") if isinstance(meta.get("input"), Mapping) else {}
    if recorded.get("data") and recorded["data"] != data:
        size = "×".join(str(recorded.get(k, "?")) for k in ("in_channels", "image_size", "image_size"))
        raise CheckpointError(f"{source} was trained on {recorded['data']} ({size} images, "
                              f"{recorded.get('num_classes', '?')} classes), not {data}: pass --data "
                              f"{recorded['data']} (and --data-root DIR)")


def check_checkpoint_config(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The checkpoint's recorded config, checked key by key against the bounds the command line
    itself enforces: ``arch`` and ``model`` strings, ``method`` a registered name, ``levels`` an
    integer in [1, MAX_STEPS], ``options`` an object. A crafted value is named, never used."""
    config = dict(config)
    for key in ("arch", "model"):
        if key in config and config[key] is not None and not (isinstance(config[key], str) and config[key]):
            raise CheckpointError(f"{source}: its recorded {key!r} must be a name, got {config[key]!r}")
    if "method" in config:
        check_choice(f"{source}: its recorded 'method'", config["method"], method_names(), error=CheckpointError)
    if "levels" in config:
        levels = config["levels"]
        if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= MAX_STEPS:
            raise CheckpointError(f"{source}: its recorded 'levels' must be an integer in [1, {MAX_STEPS}], got "
                                  f"{levels!r}")
    if "options" in config and not isinstance(config["options"], dict):
        raise CheckpointError(f"{source}: its recorded 'options' must be an object, got "
                              f"{type(config['options']).__name__}")
    return config


def load_checkpoint(
    path: str | os.PathLike, model: nn.Module | None = None, expected_arch: str | None = None,
    expected_method: str | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load ``(state_dict, config)`` with ``weights_only=True``; optionally into ``model``.

    Raises :class:`CheckpointError` when the file is missing (or a folder), would execute code, is
    not one of our checkpoints, records a malformed config (:func:`check_checkpoint_config`), was
    saved for another architecture than ``expected_arch`` or another method than
    ``expected_method``, or does not fit ``model`` (the error lists the keys and shapes).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a folder; give the checkpoint file in it")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError and others: say what it means
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be loaded safely with weights_only=True "
            f"(it is corrupt or holds objects other than tensors and plain data): {type(exc).__name__}"
        ) from None
    if not isinstance(payload, dict) or "state_dict" not in payload or "config_json" not in payload:
        raise CheckpointError(
            f"{str(path)!r} is not a OneSpike Study checkpoint (expected keys 'state_dict' and 'config_json'; "
            "write one with analysis.study.training.save_checkpoint)"
        )
    try:
        config = json.loads(payload["config_json"]) if isinstance(payload["config_json"], str) else None
    except json.JSONDecodeError:
        config = None
    if not isinstance(config, dict):
        raise CheckpointError(f"checkpoint {str(path)!r}: its 'config_json' must be a JSON object (arch, method, "
                              "levels, options); rewrite it with analysis.study.training.save_checkpoint")
    config = check_checkpoint_config(config, f"checkpoint {str(path)!r}")
    if expected_arch is not None and config.get("arch") != expected_arch:
        raise CheckpointError(
            f"checkpoint {str(path)!r} was saved for architecture {config.get('arch')!r}, not {expected_arch!r}"
        )
    if expected_method is not None and config.get("method") != expected_method:
        raise CheckpointError(
            f"checkpoint {str(path)!r} records method {config.get('method')!r}, not {expected_method!r}: it holds "
            "another method's network"
        )
    state = payload["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {str(path)!r}: its 'state_dict' must be a dict of tensors")
    if model is not None:
        load_weights(model, state, f"checkpoint {str(path)!r}",
                     f"this model ({config.get('arch')!r}, method {config.get('method')!r})")
    return state, config
