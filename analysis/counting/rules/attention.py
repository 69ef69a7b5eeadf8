"""Attention: ``nn.MultiheadAttention`` as one layer, so that it is counted whether or not the
operator pass runs (ViT-B/16 spends 6.3 G MACs in it).

The formulas are those of the fused operator rule (``analysis.counting.rules.operators.mha_op``), written for
the module's own arguments (``batch_first`` or not, unbatched input, ``kdim``/``vdim``, the extra
key of ``add_bias_kv``/``add_zero_attn``); the softmax is counted by ``costs.softmax_ops``.
"""

from __future__ import annotations

import torch
from torch import nn

from analysis.counting.nonzero import nonzero_count
from analysis.counting.registry import register_rule
from analysis.counting.rules.costs import as_events, softmax_ops
from analysis.counting.signals import ANALOG_BITS, Signal

__all__ = ["attention_rule"]


def _batch_major(t: torch.Tensor, batch_first: bool) -> torch.Tensor:
    """``[B, L, E]`` from the module's layout (``[L, B, E]`` unless batch_first; ``[L, E]`` unbatched)."""
    if t.dim() == 2:
        return t.unsqueeze(0)
    return t if batch_first else t.transpose(0, 1)


@register_rule(nn.MultiheadAttention)
def attention_rule(module: nn.MultiheadAttention, inputs, output, ctx):
    """Multi-head attention over B batches of L queries and S keys (embedding E, H heads):
    ``mac`` = the q/k/v projections L·E² + S·kdim·E + S·vdim·E, the output projection L·E², and
    attention 2·L·S·E (scores and the weighted sum), per batch; one ``add`` per projected value for
    the biases; one ``mul`` per score for the 1/sqrt(E/H) scaling and the softmax per score
    (``costs.softmax_ops``: its exp as mul/add/shift). ``mac_nonzero``: the input projections' MACs
    with a non-zero input, the rest dense. The attention weights' average over heads
    (``need_weights=True``) is not counted."""
    query, key, value = (_batch_major(t, module.batch_first) for t in inputs[:3])
    b, l, e, h = query.shape[0], query.shape[1], module.embed_dim, module.num_heads
    s = key.shape[1] + int(module.bias_k is not None) + int(module.add_zero_attn)
    projections = b * (l * e * e + key.shape[1] * module.kdim * e + value.shape[1] * module.vdim * e + l * e * e)
    attention = b * 2 * l * s * e
    scores = b * h * l * s
    # the inputs' non-zeros from the count's shared maps: self-attention's query, key and value are one tensor
    gated = sum(nonzero_count(t, ctx.nonzero) for t in inputs[:3]) * e
    facts = dict(kind="linear", rule="attention", mac=float(projections + attention), weight_reads=float(projections),
                 mac_nonzero=float(gated + b * l * e * e + attention),
                 synapses=2 * e * e + module.kdim * e + module.vdim * e,
                 input_reads=query.numel() + key.numel() + value.numel(), output_writes=b * l * e,
                 in_shape=tuple(query.shape[1:]), out_shape=(l, e), neurons=l * e, act_bits=ANALOG_BITS,
                 out_bits=ANALOG_BITS, signal=Signal("analog"))
    events = as_events(softmax_ops(scores))
    events["mul"] += scores  # the scaling
    if module.in_proj_bias is not None:
        events["add"] += b * (l + key.shape[1] + value.shape[1]) * e
    if module.out_proj.bias is not None:
        events["add"] += b * l * e
    facts.update(events)
    return facts
