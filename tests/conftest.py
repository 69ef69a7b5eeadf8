"""Shared fixtures: small seeded tensors; one torch thread per test process.

The suite's tensors are small (8x8 digits, a few samples), too small for torch's intra-op threads to
pay for their synchronisation; `make test` runs one test process per core instead (pytest-xdist).
"""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
