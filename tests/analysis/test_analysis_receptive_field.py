"""receptive_field: the recurrence against PyTorch's shapes and the input-gradient support."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nndl import ValidationError
from nndl.analysis import gradient_support, receptive_field, sequential_layers
from nndl.nn import cnn

ARCHITECTURES = {
    "pool": lambda: nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 3, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(3, 2, 3),
    ),
    # dilation, anisotropic kernel and stride, "valid"/"same" padding, a padded ceil-mode pool
    "dilated": lambda: nn.Sequential(
        nn.Conv2d(1, 3, 3, dilation=2, padding=2),
        nn.Tanh(),
        nn.Conv2d(3, 3, (3, 5), stride=(2, 1), padding="valid"),
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.Conv2d(3, 2, 3, padding="same", dilation=3),
    ),
    "strided": lambda: nn.Sequential(
        nn.Conv2d(1, 3, 3, stride=2, padding=1),
        nn.ELU(),
        nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 3, 3, stride=2, padding=1)),
    ),
}


def _spatial_outputs(model: nn.Module, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    out, x = {}, torch.zeros(1, *shape)
    for name, module in sequential_layers(model):
        x = module.eval()(x)
        out[name] = tuple(x.shape[2:])
    return out


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_output_sizes_match_pytorch(arch):
    model = ARCHITECTURES[arch]()
    shape = (1, 33, 29)
    actual = _spatial_outputs(model, shape)
    for layer in receptive_field(model, shape)[1:]:
        assert layer.output_size == actual[layer.name], layer.name


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_matches_gradient_support_for_centre_and_corner_units(arch):
    model = ARCHITECTURES[arch]()
    shape = (1, 33, 29)
    gen = torch.Generator().manual_seed(0)
    for layer in receptive_field(model, shape)[1:]:
        for position in (tuple(n // 2 for n in layer.output_size), (0, 0)):
            support = gradient_support(
                model, shape, layer.name, position, n_samples=12, generator=gen
            )
            assert support == layer.box(position, shape[1:]), (layer.name, position)


def test_known_values_of_a_pooled_stack():
    # r: 3 -> 4 (pool) -> 8 (conv after a jump of 2); start moves by ((k-1)/2 - p) * j
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    fields = receptive_field(net, (1, 16, 16))
    assert [f.size[0] for f in fields] == [1, 3, 4, 8]
    assert [f.jump[0] for f in fields] == [1, 1, 2, 2]
    assert [f.start[0] for f in fields] == [0.0, 0.0, 0.5, 2.5]
    assert fields[-1].box((0, 0)) == ((-1, 6), (-1, 6))  # unclipped: reaches into the padding
    assert fields[-1].box((0, 0), (16, 16)) == ((0, 6), (0, 6))


def test_pooling_grows_the_field_of_the_cnn_builder():
    def sizes(pool):
        model = cnn(1, 10, 32, channels=(4, 4, 4), pool=pool)
        fields = {f.name: f for f in receptive_field(model, (1, 32, 32))}
        return [(fields.get(f"pool{i}") or fields[f"act{i}"]).size[0] for i in (1, 2, 3)]

    assert sizes("none") == [3, 5, 7]
    assert sizes("max") == sizes("avg") == [4, 10, 22]
    assert sizes("stride") == [3, 7, 15]


def test_maxout_over_channels_is_pointwise():
    relu = cnn(1, 10, 16, channels=(4, 4), pool="max")
    maxout = cnn(1, 10, 16, channels=(4, 4), pool="max", activation="maxout")
    assert [f.size for f in receptive_field(maxout, (1, 16, 16))] == [
        f.size for f in receptive_field(relu, (1, 16, 16))
    ]


def test_one_dimensional_convolutions():
    net = nn.Sequential(
        nn.Conv1d(2, 2, 5, stride=2), nn.MaxPool1d(2), nn.Conv1d(2, 1, 3, dilation=2)
    )
    fields = receptive_field(net, (2, 64))
    assert [f.size for f in fields] == [(1,), (5,), (7,), (23,)]
    assert fields[-1].output_size == tuple(net(torch.zeros(1, 2, 64)).shape[2:])


def test_stops_at_flatten():
    model = cnn(1, 10, 8, channels=(4,), pool="max")
    names = [f.name for f in receptive_field(model, (1, 8, 8))]
    assert names == ["input", "conv1", "act1", "pool1"]


@pytest.mark.parametrize(
    ("module", "type_name"),
    [(nn.Upsample(scale_factor=2), "Upsample"), (nn.AdaptiveAvgPool2d(1), "AdaptiveAvgPool2d")],
)
def test_unsupported_module_error_names_its_type(module, type_name):
    net = nn.Sequential(nn.Conv2d(1, 1, 3), module)
    with pytest.raises(ValidationError, match=rf"'1' of type {type_name}"):
        receptive_field(net, (1, 16, 16))


def test_rejects_bad_inputs():
    net = nn.Sequential(nn.Conv2d(1, 1, 5))
    with pytest.raises(ValidationError, match="too small"):
        receptive_field(net, (1, 3, 3))
    with pytest.raises(ValidationError, match="input_shape"):
        receptive_field(net, (8,))
    with pytest.raises(ValidationError, match="2-D inputs"):
        receptive_field(net, (1, 16))
    with pytest.raises(ValidationError, match="unknown layer 'conv9'"):
        gradient_support(net, (1, 8, 8), "conv9")
    with pytest.raises(ValidationError, match="position"):
        gradient_support(net, (1, 8, 8), "0", (9, 9))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["conv", "max", "avg"]),
            st.integers(1, 4),  # kernel
            st.integers(1, 3),  # stride
            st.integers(1, 2),  # dilation (conv and max pool)
            st.integers(0, 2),  # padding
        ),
        min_size=1,
        max_size=4,
    )
)
def test_property_random_stacks_agree_with_gradients(spec):
    layers = []
    for kind, k, s, d, p in spec:
        p = min(p, k // 2)  # PyTorch pools require padding <= kernel / 2
        if kind == "conv":
            layers.append(nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d))
        elif kind == "max":
            layers.append(nn.MaxPool2d(k, stride=s, padding=p, dilation=d))
        else:
            layers.append(nn.AvgPool2d(k, stride=s, padding=p))
    net = nn.Sequential(*layers)
    shape = (1, 40, 40)
    try:
        fields = receptive_field(net, shape)
    except ValidationError:  # the stack shrinks the input below one pixel: PyTorch fails too
        with pytest.raises(RuntimeError):
            net(torch.zeros(1, *shape))
        return
    actual = _spatial_outputs(net, shape)
    assert fields[-1].output_size == actual[str(len(layers) - 1)]
    last = fields[-1]
    centre = tuple(n // 2 for n in last.output_size)
    support = gradient_support(net, shape, last.name, centre, n_samples=6)
    box = last.box(centre, shape[1:])
    # the gradient never leaves the analytic box
    for (lo, hi), (blo, bhi) in zip(support, box, strict=True):
        assert blo <= lo <= hi <= bhi
    # and reaches its corners unless a max pool routed it elsewhere (a data-dependent choice)
    if all(kind != "max" for kind, *_ in spec):
        assert support == box
