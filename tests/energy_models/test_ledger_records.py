"""LayerEvents.of_fields (the counter's per-layer record builder) is LayerEvents(**fields): the same
record, the same conversions and the same errors, while checking only the fields it is given."""

import gc
import math
import weakref

import numpy as np
import pytest
import torch

from energy_models.ledger import LayerEvents, LedgerError

FIELDS = dict(name="conv1", kind="conv", module_type="Conv2d", method="ann", timesteps=1, groups=1, mac=1024,
              mac_nonzero=512.0, input_nonzero=10, in_shape=[3, 8, 8], out_shape=(4, 8, 8), kernel_size=3,
              stride=(1, 1), padding=(1.0, 1.0), neurons=256, synapses=108, weight_bits=32, act_bits=32,
              rule="conv.analog_input", fused_into="relu1")


def test_of_fields_builds_the_record_the_constructor_builds():
    fast, slow = LayerEvents.of_fields(FIELDS), LayerEvents(**FIELDS)
    assert fast == slow and vars(fast) == vars(slow)
    assert fast.in_shape == (3, 8, 8) and fast.kernel_size == (3,) and fast.padding == (1, 1)
    assert type(fast.mac) is float and type(fast.input_nonzero) is float and fast.ac == 0.0


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"mac": -1}, LedgerError, r"layer 'conv1': mac = -1.0; counts must be finite and >= 0"),
    ({"mac_nonzero": math.nan}, LedgerError, r"mac_nonzero = nan; counts must be finite"),
    ({"neurons": math.inf}, LedgerError, r"neurons = inf"),
    ({"kind": "convolution"}, LedgerError, r"kind must be one of .*got 'convolution'"),
    ({"timesteps": 0}, LedgerError, r"timesteps must be >= 1, got 0"),
    ({"repeat_steps": 0}, LedgerError, r"repeat_steps must be >= 1"),
    ({"macs": 1}, TypeError, r"macs"),
])
def test_of_fields_refuses_what_the_constructor_refuses(change, error, message):
    fields = {**FIELDS, **change}
    with pytest.raises(error, match=message):
        LayerEvents(**fields)
    with pytest.raises(error, match=message):
        LayerEvents.of_fields(fields)


def test_of_fields_needs_a_name_and_a_kind():
    with pytest.raises(TypeError, match="'name' and 'kind'"):
        LayerEvents.of_fields({"name": "x", "mac": 1.0})


def test_shape_fields_are_ints_however_the_same_shape_was_given_before():
    """Shapes are converted once per distinct tuple: a tuple equal to one seen before holds equal numbers,
    so it gets the same ints; a tuple of other objects is converted every time and never kept."""
    first = LayerEvents.of_fields({**FIELDS, "in_shape": (3, 8, 8)})
    again = LayerEvents.of_fields({**FIELDS, "in_shape": (3.0, 8.0, 8.0)})
    assert first.in_shape == again.in_shape == (3, 8, 8) and all(type(v) is int for v in again.in_shape)
    assert LayerEvents.of_fields({**FIELDS, "in_shape": (3.9, 8, 8)}).in_shape == (3, 8, 8)  # as int() does
    size = torch.tensor(5)
    record = LayerEvents.of_fields({**FIELDS, "out_shape": (size, np.int64(2))})
    assert record.out_shape == (5, 2) and all(type(v) is int for v in record.out_shape)
    ref = weakref.ref(size)
    del size, record
    gc.collect()
    assert ref() is None  # the tensor in the shape is not kept by the conversion
    with pytest.raises(TypeError, match="int"):
        LayerEvents.of_fields({**FIELDS, "in_shape": ([3], 8)})
