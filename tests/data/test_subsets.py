"""balanced_subsets, balanced_order, center_crop, resize_images and load_image_subsets."""

from __future__ import annotations

import pytest
import torch

from nndl import ShapeError, ValidationError
from nndl.data import (
    ImageData,
    balanced_order,
    balanced_subsets,
    center_crop,
    load_image_subsets,
    resize_images,
)


def _data(n: int = 60, classes: int = 3) -> ImageData:
    images = torch.arange(n * 16, dtype=torch.float32).reshape(n, 1, 4, 4) / (n * 16)
    return ImageData(images, torch.arange(n) % classes, None, "toy")


def test_balanced_order_is_a_seeded_permutation_with_balanced_prefixes():
    labels = torch.tensor([0] * 10 + [1] * 6 + [2] * 8)
    order = balanced_order(labels, seed=3)
    assert sorted(order.tolist()) == list(range(len(labels)))
    assert torch.equal(order, balanced_order(labels, seed=3))
    assert not torch.equal(order, balanced_order(labels, seed=4))
    for n in (3, 9, 18):  # every prefix of whole rounds holds each class equally often
        assert torch.bincount(labels[order[:n]]).tolist() == [n // 3] * 3


def test_balanced_subsets_are_disjoint_and_balanced():
    data = _data()
    split = balanced_subsets(data, n_train=12, n_val=6, n_test=30, seed=0)
    assert torch.bincount(split.y_train).tolist() == [4, 4, 4]
    rows = torch.cat([split.x_train, split.x_val, split.x_test])
    assert len({tuple(r.tolist()) for r in rows}) == 48  # no image in two subsets
    assert split.images(split.x_test).shape == (30, 1, 4, 4)


def test_balanced_subsets_reject_too_many_images_and_unlabelled_data():
    with pytest.raises(ValidationError, match="at most the 60 images"):
        balanced_subsets(_data(), n_train=50, n_test=20)
    with pytest.raises(ValidationError, match="labelled"):
        balanced_subsets(ImageData(torch.zeros(4, 1, 2, 2), None, None, "x"), n_train=1, n_test=1)
    with pytest.raises(ValidationError, match="n_train"):
        balanced_subsets(_data(), n_train=0, n_test=1)


def test_center_crop_and_resize():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert center_crop(x, 2)[0, 0].tolist() == [[14.0, 15.0], [20.0, 21.0]]
    assert resize_images(x, 6) is x
    small = resize_images(torch.ones(2, 1, 8, 8), 4)
    assert small.shape == (2, 1, 4, 4) and torch.allclose(small, torch.ones_like(small))
    with pytest.raises(ValidationError, match="size"):
        center_crop(x, 7)
    with pytest.raises(ShapeError):
        resize_images(torch.zeros(6, 6), 3)
    with pytest.raises(ValidationError, match="floating"):
        resize_images(torch.zeros(1, 1, 6, 6, dtype=torch.uint8), 3)


def test_load_image_subsets_digits_and_bad_spec():
    x_tr, y_tr, x_te, y_te = load_image_subsets("digits", n_train=20, n_test=30, size=4)
    assert x_tr.shape == (20, 1, 4, 4) and x_te.shape == (30, 1, 4, 4)
    assert torch.bincount(y_tr).tolist() == [2] * 10 and len(y_te) == 30
    with pytest.raises(ValidationError, match="cifar"):
        load_image_subsets("cifar", n_train=1, n_test=1)
