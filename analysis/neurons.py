"""Kept import path (DESIGN.md's public API): the neurons live in :mod:`analysis.snn.neurons`."""

from analysis.snn.neurons import QCFS, BinaryActivation, BinaryConv2d, BinaryLinear, ClampQuant, IFNeuron, PSGNeuron

__all__ = ["QCFS", "BinaryActivation", "BinaryConv2d", "BinaryLinear", "ClampQuant", "IFNeuron", "PSGNeuron"]
