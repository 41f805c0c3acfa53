import json

import pytest

from nndl._io import (
    OutputDirError,
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    ensure_dir,
    read_file_bytes,
)


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "a" / "result.json"
    atomic_write_json(target, {"x": 1.5, "nan": float("nan"), "inf": float("inf")})
    data = json.loads(target.read_text())
    assert data == {"x": 1.5, "nan": "nan", "inf": "inf"}
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


def test_interrupted_write_leaves_previous_file_intact(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_text(target, "previous")

    def write_then_crash(handle):
        handle.write(b"half of the new cont")
        raise KeyboardInterrupt  # the process is interrupted mid-write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, write_then_crash)
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]  # no temp file left


def test_unwritable_folder_is_reported():
    # /proc refuses new entries even to root (CI runs as root, so chmod would not do)
    with pytest.raises(OutputDirError, match="cannot be created"):
        ensure_dir("/proc/nndl-test-output")


def test_output_path_that_is_a_file_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputDirError, match="cannot be created"):
        ensure_dir(blocker / "sub")
    with pytest.raises(OutputDirError, match="is not a folder|cannot be created"):
        ensure_dir(blocker)


class _FormatError(OSError):
    pass


def test_read_file_bytes_reads_or_names_the_file(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"\x00\x01")
    assert read_file_bytes(tmp_path / "a.bin", name="data file", error=_FormatError) == b"\x00\x01"
    with pytest.raises(_FormatError, match=r"data file '.*nope\.bin' does not exist"):
        read_file_bytes(tmp_path / "nope.bin", name="data file", error=_FormatError)
    with pytest.raises(_FormatError, match="is a folder, not a .bin file"):
        read_file_bytes(tmp_path, name="data file", error=_FormatError, expected="a .bin file")
