"""Kept import path (DESIGN.md's public API): the conversion ladder lives in :mod:`analysis.snn`."""

from analysis.snn import round_thresholds_pow2, to_binary, to_if_snn, to_onespike, to_quantized

__all__ = ["round_thresholds_pow2", "to_binary", "to_if_snn", "to_onespike", "to_quantized"]
