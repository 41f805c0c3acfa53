import numpy as np
import pytest
import torch
from PIL import Image

from nndl import ValidationError
from nndl.data import (
    ImageFileError,
    load_dataset,
    load_digits,
    load_digits_split,
    load_image,
    load_image_folder,
    load_stereo_motorcycle,
    load_tabular,
)


def test_digits_split_is_fixed_stratified_and_disjoint():
    a, b = load_digits_split(seed=0), load_digits_split(seed=0)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (1167, 270, 360)
    assert a.n_features == 64 and a.n_classes == 10 and a.image_shape == (1, 8, 8)
    assert float(a.x_train.min()) >= 0.0 and float(a.x_train.max()) <= 1.0
    rows = {tuple(r.tolist()) for r in torch.cat([a.x_train, a.x_val, a.x_test])}
    assert len(rows) > 1700  # no example is in two parts (digits has a few exact duplicates)
    counts = torch.bincount(a.y_test, minlength=10).float()
    assert float(counts.min()) >= 34 and float(counts.max()) <= 38  # stratified
    assert not torch.equal(load_digits_split(seed=1).x_train, a.x_train)
    assert a.images(a.x_val).shape == (270, 1, 8, 8)


def test_digits_levels_are_sixteenths():
    data = load_digits()
    pixels = data.images * 16
    assert torch.allclose(pixels, pixels.round()) and data.levels == 17


@pytest.mark.parametrize(
    "name,shape,classes",
    [("iris", (150, 4), 3), ("wine", (178, 13), 3), ("breast_cancer", (569, 30), 2)],
)
def test_tabular(name, shape, classes):
    data = load_tabular(name)
    assert data.X.shape == shape and len(np.unique(data.y)) == classes
    assert len(data.feature_names) == shape[1]


def test_tabular_unknown_name_lists_valid_ones():
    with pytest.raises(ValidationError, match="unknown data set 'wines'; valid: wine"):
        load_tabular("wines")


def test_stereo_motorcycle_convention():
    pair = load_stereo_motorcycle()
    assert pair.left.shape == pair.right.shape == (3, 500, 741)
    assert pair.disparity.shape == (500, 741)
    valid = pair.valid
    assert 0.9 < float(valid.float().mean()) < 0.95
    assert torch.isinf(pair.disparity[~valid]).all()
    # photometric check of the convention: left x matches right x - d
    ys, xs = torch.nonzero(valid, as_tuple=True)
    d = pair.disparity[ys, xs].round().long()
    keep = xs - d >= 0
    ys, xs, d = ys[keep], xs[keep], d[keep]
    matched = (pair.left[:, ys, xs] - pair.right[:, ys, xs - d]).abs().mean()
    mismatched = (pair.left[:, ys, xs] - pair.right[:, ys, (xs + d).clamp(max=740)]).abs().mean()
    assert matched < 0.5 * mismatched


def test_load_image_and_folder(tmp_path):
    rgb = np.zeros((5, 7, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb[..., 1]).save(tmp_path / "b.jpg")
    img = load_image(tmp_path / "a.png")
    assert img.shape == (3, 5, 7) and float(img[0].min()) == 1.0 and float(img[1].max()) == 0.0
    assert load_image(tmp_path / "a.png", gray=True).shape == (1, 5, 7)
    data = load_image_folder(tmp_path)
    assert data.images.shape == (2, 1, 5, 7) and data.labels is None
    assert load_dataset(f"folder:{tmp_path}", image_size=4).images.shape == (2, 1, 4, 4)


def test_bad_image_inputs(tmp_path):
    with pytest.raises(ImageFileError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ImageFileError, match="cannot be read as an image"):
        load_image(tmp_path / "broken.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageFileError, match="holds no image files"):
        load_image_folder(empty)
    with pytest.raises(ValidationError, match="data must be 'digits'"):
        load_dataset("cifar")
