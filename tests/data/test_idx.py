import gzip

import numpy as np
import pytest

from nndl.data import IDXError, load_dataset, load_mnist, read_idx, write_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / ("a.idx.gz" if compress else "a.idx"), array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, array)


def test_idx_header_is_big_endian(tmp_path):
    # 2 images of 2×3, written by hand as the MNIST spec describes
    raw = bytes([0, 0, 0x08, 3]) + (2).to_bytes(4, "big") + (2).to_bytes(4, "big")
    raw += (3).to_bytes(4, "big") + bytes(range(12))
    (tmp_path / "x").write_bytes(raw)
    np.testing.assert_array_equal(
        read_idx(tmp_path / "x"), np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    )


def _write_mnist(folder, n=6, compress=True):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    ext = ".gz" if compress else ""
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_reads_images_and_labels(tmp_path, compress):
    images, labels = _write_mnist(tmp_path, compress=compress)
    data = load_mnist(tmp_path, split="test")
    assert data.images.shape == (6, 1, 28, 28)
    assert float(data.images.max()) <= 1.0
    np.testing.assert_allclose(data.images[:, 0].numpy() * 255, images, atol=1e-4)
    np.testing.assert_array_equal(data.labels.numpy(), labels)
    assert load_dataset(f"fashion-mnist:{tmp_path}").name == "fashion-mnist"


def test_missing_mnist_file_names_the_file_and_how_to_get_it(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(IDXError, match=r"train-labels-idx1-ubyte\[\.gz\] is missing .* download"):
        load_mnist(tmp_path)
    with pytest.raises(IDXError, match="does not exist"):
        load_mnist(tmp_path / "nope")


def test_corrupt_idx_files_are_reported(tmp_path):
    _write_mnist(tmp_path, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])  # truncated
    with pytest.raises(IDXError, match=r"train-images-idx3-ubyte.* is corrupt: header says"):
        load_mnist(tmp_path)
    path.write_bytes(b"\x12\x34\x56\x78garbage")
    with pytest.raises(IDXError, match="bad magic number"):
        read_idx(path)
    gz = tmp_path / "x.gz"
    gz.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abcde")[:-6])
    with pytest.raises(IDXError, match="corrupt gzip"):
        read_idx(gz)
