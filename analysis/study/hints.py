"""The fix a checkpoint refusal names when the file is a common near miss: a training script's
``{"model": state_dict, "epoch": 3}`` wrapper, or weights of the same architecture trained on other
data (another number of input channels)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["input_hint", "not_a_state_dict"]


def not_a_state_dict(path: str | Path, state: Any) -> str:
    """Why a checkpoint that is no state dict of tensors is refused: the keys it holds, and the entry
    that looks like the state dict (to save alone), if one does."""
    keys = list(state) if isinstance(state, dict) else []
    inner = next((k for k in keys if isinstance(state[k], dict) and state[k]
                  and all(isinstance(t, torch.Tensor) for t in state[k].values())), None)
    found = f"a dict with keys {keys[:6]}" if keys else type(state).__name__
    fix = (f"its {inner!r} entry looks like the state dict: save that alone, "
           f"torch.save(torch.load({str(path)!r})[{inner!r}], 'weights.pt'), and give weights.pt" if inner is not None
           else "save model.state_dict() with torch.save and give that file")
    return (f"checkpoint {str(path)!r} holds {found}, neither a OneSpike Study checkpoint nor a state dict of "
            f"tensors: {fix}")


def input_hint(model: nn.Module, state: Mapping[str, Any]) -> str:
    """Where the first conv of ``state`` takes another number of input channels than ``model``'s: the
    checkpoint was trained on other data, and ``--data`` names it ("" otherwise)."""
    first = next((k for k, v in state.items() if isinstance(v, torch.Tensor) and v.dim() == 4), None)
    ours = model.state_dict().get(first) if first is not None else None
    if ours is None or ours.dim() != 4 or ours.shape[1] == state[first].shape[1]:
        return ""
    return (f"; its first layer takes {state[first].shape[1]} input channel(s), this data {ours.shape[1]}: it was "
            "trained on other data, so pass that data set with --data (and --data-root), e.g. --data cifar10")
