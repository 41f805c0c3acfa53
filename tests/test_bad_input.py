"""Property and fuzz tests of bad input, one section per class of failure (issue 13).

Each class is tested over generated variants, not only the example that revealed it: whatever a
hostile but realistic user passes, the answer is one of nndl's own errors naming the argument or
the file, raised before any work or write (or, from the command line, exit status 2 with no
traceback), never a raw ``KeyError``/``AttributeError``/``zlib.error`` or a silent wrong answer.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as st_save
from torch import nn

from nndl._io import OutputPathError, atomic_write_json, atomic_write_text
from nndl.cli import SEED_MAX, main
from nndl.data import IDXError, ImageFileError, dequantize, load_image, read_idx, write_idx
from nndl.generative import VAE, FeatureClassifier, GaussianMixtureEM
from nndl.generative.gan import GAN, save_image_grid
from nndl.train import (
    CheckpointError,
    Trainer,
    load_checkpoint,
    load_model,
    resolve_device,
    save_checkpoint,
    save_model,
    supervised_loss,
)
from nndl.validation import DTypeError, NNDLError, ValidationError

# fmt: off
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6,
)
# fmt: on
NAMES = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=12)
FUZZ = settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


def _exit_code(argv: list[str]) -> int:
    """``nndl argv``'s exit status, whether argparse exits or ``main`` returns."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


# ---------------------------------------------------------------------------------------------
# Writing onto a path that is a folder: checked once, up front, in the atomic-write helper
# ---------------------------------------------------------------------------------------------
def _writers(target: Path) -> dict[str, object]:
    model = nn.Linear(2, 2)
    return {
        "atomic_write_text": lambda: atomic_write_text(target, "x"),
        "atomic_write_json": lambda: atomic_write_json(target, {"a": 1}),
        "save_checkpoint": lambda: save_checkpoint(target, {"w": torch.zeros(2)}, {}),
        "save_model": lambda: save_model(model, target, kind="nndl.x.Y", config={}),
        "write_idx": lambda: write_idx(target, np.zeros((2, 2), dtype=np.uint8)),
        "save_image_grid": lambda: save_image_grid(target, torch.zeros(4, 1, 3, 3)),
    }


@FUZZ
@given(name=NAMES, writer=st.sampled_from(sorted(_writers(Path("x")))))
def test_every_writer_refuses_a_folder_before_writing(tmp_path, name, writer):
    target = tmp_path / f"{name}.out"
    target.mkdir(exist_ok=True)
    (target / "keep").write_text("mine")
    with pytest.raises(OutputPathError, match="is a folder") as info:
        _writers(target)[writer]()  # type: ignore[operator]
    assert str(target) in str(info.value)
    assert sorted(p.name for p in target.iterdir()) == ["keep"]  # nothing written inside
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file


@FUZZ
@given(name=NAMES)
def test_writing_under_a_file_names_the_file(tmp_path, name):
    blocker = tmp_path / f"{name}.txt"
    blocker.write_text("a file")
    with pytest.raises(OutputPathError, match="is a file") as info:
        atomic_write_text(blocker / "sub" / "out.json", "x")
    assert str(blocker) in str(info.value) and blocker.read_text() == "a file"


def test_nndl_sample_out_folder_is_exit_2(gmm_run, tmp_path, capsys):
    folder = tmp_path / "grid.png"
    folder.mkdir()
    assert main(["sample", str(gmm_run), "--n", "4", "--out", str(folder)]) == 2
    err = _err(capsys)
    assert "is a folder" in err and str(folder) in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# Checkpoint and run metadata are validated against a schema before the model is touched
# ---------------------------------------------------------------------------------------------
def _raw_checkpoint(path: Path, tensors: dict[str, torch.Tensor], meta: object) -> Path:
    """A safetensors file with arbitrary JSON metadata (not through save_checkpoint)."""
    path.write_bytes(st_save(tensors, metadata={"nndl": json.dumps(meta)}))
    return path


@FUZZ
@given(meta=JSON)
def test_any_metadata_value_is_a_checkpoint_error_or_loads(tmp_path, meta):
    path = _raw_checkpoint(tmp_path / "m.safetensors", {"model.w": torch.zeros(1)}, meta)
    with pytest.raises(CheckpointError) as info:
        load_model(path, "nndl.generative.VAE")
    assert str(path) in str(info.value)


def _vae_meta(tmp_path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    vae = VAE((4,), 2, hidden=(3,))
    path = vae.save(tmp_path / "vae.safetensors")
    return load_checkpoint(path)


@FUZZ
@given(
    key=st.sampled_from(["kind", "version", "config", "format_version"]),
    value=JSON | st.just("<drop>"),
)
def test_mutated_model_metadata_never_escapes_as_a_raw_error(tmp_path, key, value):
    tensors, meta = _vae_meta(tmp_path)
    if value == "<drop>":
        meta.pop(key)
    else:
        meta[key] = value
    path = _raw_checkpoint(tmp_path / "bad.safetensors", tensors, meta)
    try:
        model, _ = load_model(path, "nndl.generative.VAE")
    except CheckpointError as exc:
        assert str(path) in str(exc)
    else:  # the mutation kept a valid checkpoint (e.g. version 1 written again)
        assert isinstance(model, VAE)


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ([1, 2], "metadata that is an array, not an object"),
        ({"kind": "nndl.generative.VAE", "config": "latent 2"}, "'config' = a string"),
        ({"kind": "nndl.generative.VAE", "version": 99, "config": {}}, "version 99"),
        ({"kind": "nndl.generative.GAN", "version": 1, "config": {}}, "not a VAE checkpoint"),
        ({"kind": "nndl.generative.VAE", "format_version": 7, "config": {}}, "format_version 7"),
        ({"kind": "trainer", "step": 3}, "lacks 'epoch'"),
        ({"kind": "trainer", "epoch": "3", "step": 3}, "'epoch' = a string"),
        ({"kind": "trainer", "epoch": True, "step": 3}, "'epoch' = true or false"),
    ],
)
def test_schema_errors_name_the_file_and_the_key(tmp_path, meta, message):
    path = _raw_checkpoint(tmp_path / "c.safetensors", {"model.w": torch.zeros(1)}, meta)
    expected = "nndl.generative.VAE" if isinstance(meta, list) or "config" in meta else None
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path, expected_kind=expected)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("drop", ["epoch", "step"])
def test_trainer_checkpoint_without_a_key_leaves_the_model_untouched(tmp_path, drop):
    model = nn.Linear(3, 2)
    trainer = Trainer(model, lambda p: torch.optim.SGD(p, lr=0.1), supervised_loss(), epochs=1,
                      batch_size=4, progress=False, checkpoint_dir=tmp_path)  # fmt: skip
    trainer.save_checkpoint()
    tensors, meta = load_checkpoint(tmp_path / "checkpoint.safetensors")
    meta.pop(drop)
    tensors = {k: (v + 1 if k.startswith("model.") else v) for k, v in tensors.items()}
    _raw_checkpoint(tmp_path / "checkpoint.safetensors", tensors, meta)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(CheckpointError, match=f"lacks '{drop}'"):
        trainer.load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize(
    "build",
    [
        lambda: VAE((4,), 2, hidden=(3,)),
        lambda: GAN((1, 4, 4), 2, hidden=(3,)),
        lambda: FeatureClassifier((1, 4, 4), 3, hidden=(5,)),
        lambda: GaussianMixtureEM(2, covariance_type="diag", random_state=0).fit(
            np.random.default_rng(0).normal(size=(20, 3))
        ),
    ],
    ids=["VAE", "GAN", "FeatureClassifier", "GaussianMixtureEM"],
)
def test_every_model_uses_the_one_checkpoint_scheme(tmp_path, build):
    model = build()
    path = model.save(tmp_path / "m.safetensors")
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["kind"] == f"nndl.generative.{type(model).__name__}" and meta["version"] == 1
    loaded, _ = load_model(path, meta["kind"])  # the class comes from the kind alone
    assert type(loaded) is type(model) and loaded.config == model.config
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(torch.as_tensor(a), torch.as_tensor(b)), name
    other = (
        "nndl.generative.GAN" if meta["kind"] != "nndl.generative.GAN" else "nndl.generative.VAE"
    )
    with pytest.raises(CheckpointError, match="not a .* checkpoint"):
        load_model(path, other)


def test_a_kind_outside_nndl_is_never_imported(tmp_path):
    path = save_model(nn.Linear(1, 1), tmp_path / "m.safetensors", kind="os.system", config={})
    with pytest.raises(CheckpointError, match="names no nndl model"):
        load_model(path, "os.system")


@pytest.fixture(scope="module")
def gmm_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "gmm"
    argv = ["--quiet", "train", "gmm", "--data", "digits", "--out", str(run), "--components",
            "2", "--covariance", "diag", "--max-iter", "3"]  # fmt: skip
    assert main(argv) == 0
    return run


RUN_KEYS = ["format", "kind", "data", "image_shape", "settings", "status", "levels",
            "image_size", "device", "split", "model"]  # fmt: skip


@FUZZ
@given(key=st.sampled_from(RUN_KEYS), value=JSON | st.just("<drop>"))
def test_mutated_run_config_is_exit_0_or_2_never_a_traceback(gmm_run, tmp_path, key, value):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    for name in ("model.safetensors", "model.json"):
        (run / name).write_bytes((gmm_run / name).read_bytes())
    config = json.loads((gmm_run / "config.json").read_text())
    if value == "<drop>":
        config.pop(key)
    else:
        config[key] = value
    (run / "config.json").write_text(json.dumps(config))
    code = _exit_code(["sample", str(run), "--n", "4", "--out", str(tmp_path / "g.png")])
    assert code in (0, 2)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: [c], "not an nndl run config"),
        (lambda c: {**c, "image_shape": "8x8"}, "'image_shape'"),
        (lambda c: {k: v for k, v in c.items() if k != "image_shape"}, "lacks 'image_shape'"),
        (lambda c: {**c, "image_shape": [1, 4, 4]}, "gives image_shape [1, 4, 4]"),
        (lambda c: {**c, "levels": 1}, "levels = 1"),
        (lambda c: {**c, "status": "maybe"}, "status 'maybe'"),
    ],
)
def test_bad_run_configs_name_the_file(gmm_run, tmp_path, capsys, edit, message):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("model.safetensors", "model.json"):
        (run / name).write_bytes((gmm_run / name).read_bytes())
    config = json.loads((gmm_run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(edit(config)))
    capsys.readouterr()
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "g.png")]) == 2
    err = _err(capsys)
    assert message in err and "config.json" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# Validation before side effects
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        ["--components", "5000"],
        ["--components", "0"],
        ["--max-iter", "-1"],
        ["--reg-covar", "-1"],
        ["--reg-covar", "nan"],
        ["--seed", str(SEED_MAX + 1)],
        ["--seed", "-3"],
        ["--device", "tpu"],
        ["--image-size", "4"],
    ],
)
def test_gmm_refuses_before_the_first_write_and_a_retry_works(tmp_path, capsys, bad):
    run = tmp_path / "gmm"
    base = ["--quiet", "train", "gmm", "--data", "digits", "--out", str(run), "--covariance",
            "diag", "--max-iter", "2"]  # fmt: skip
    assert _exit_code([*base, *bad]) == 2
    assert "Traceback" not in _err(capsys)
    assert not run.exists()  # nothing written, not even the folder
    assert main([*base, "--components", "2"]) == 0  # the corrected retry into the same folder


def test_gmm_resume_refits_an_unfinished_run_and_refuses_a_finished_one(tmp_path, capsys):
    run = tmp_path / "gmm"
    base = ["--quiet", "train", "gmm", "--data", "digits", "--out", str(run), "--components",
            "2", "--covariance", "diag", "--max-iter", "2"]  # fmt: skip
    assert main(base) == 0
    capsys.readouterr()
    assert main([*base, "--resume"]) == 2
    assert "nothing to resume" in _err(capsys)
    config = json.loads((run / "config.json").read_text())
    (run / "model.safetensors").unlink()
    atomic_write_json(run / "config.json", {**config, "status": "training"})  # interrupted
    assert main([*base, "--resume"]) == 0
    assert json.loads((run / "config.json").read_text())["status"] == "done"


def test_resume_with_bad_saved_settings_names_the_config(gmm_run, tmp_path, capsys):
    run = tmp_path / "gmm"
    run.mkdir()
    config = json.loads((gmm_run / "config.json").read_text())
    config["status"] = "training"
    config["settings"]["components"] = "three"
    (run / "config.json").write_text(json.dumps(config))
    before = (run / "config.json").read_bytes()
    capsys.readouterr()
    assert main(["--quiet", "train", "gmm", "--data", "digits", "--out", str(run), "--resume"]) == 2
    err = _err(capsys)
    assert str(run / "config.json") in err and "--components" in err
    assert (run / "config.json").read_bytes() == before


@pytest.mark.parametrize("damage", ["garbage", "no-epoch", "other-model"])
def test_a_failed_resume_keeps_the_finished_run(tmp_path, capsys, damage):
    run = tmp_path / "vae"
    base = ["--quiet", "train", "vae", "--data", "digits", "--out", str(run), "--epochs", "1",
            "--hidden", "8", "--latent-dim", "2"]  # fmt: skip
    assert main(base) == 0
    ckpt = run / "train" / "checkpoint.safetensors"
    if damage == "garbage":
        ckpt.write_bytes(b"\x00" * 32)
    else:
        tensors, meta = load_checkpoint(ckpt)
        if damage == "no-epoch":
            meta.pop("epoch")
        else:
            tensors = {
                k: v[..., :1].contiguous() if k.startswith("model.") else v
                for k, v in tensors.items()
            }
        _raw_checkpoint(ckpt, tensors, meta)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main([*base[:-6], "--resume", "--epochs", "2"]) == 2
    err = _err(capsys)
    assert str(ckpt) in err and "Traceback" not in err
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert json.loads(after["config.json"])["status"] == "done"
    assert after == before  # config, model and history byte-identical


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_a_checkpoint_folder_that_is_a_file_is_refused_before_any_step(tmp_path, capsys, kind):
    run = tmp_path / kind
    run.mkdir()
    (run / "train").write_text("a file")
    argv = ["--quiet", "train", kind, "--data", "digits", "--out", str(run), "--epochs", "3",
            "--hidden", "8"]  # fmt: skip
    assert main(argv) == 2
    err = _err(capsys)
    assert "is a file" in err and str(run / "train") in err
    assert sorted(p.name for p in run.iterdir()) == ["train"]  # no config.json, no model


def test_trainer_refuses_a_checkpoint_dir_that_is_a_file_before_any_step(tmp_path):
    blocker = tmp_path / "ckpt"
    blocker.write_text("a file")
    model = nn.Linear(3, 2)
    trainer = Trainer(model, lambda p: torch.optim.SGD(p, lr=0.1), supervised_loss(), epochs=2,
                      batch_size=4, progress=False, checkpoint_dir=blocker)  # fmt: skip
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(OSError, match="is a file") as info:
        trainer.fit((torch.randn(8, 3), torch.zeros(8, dtype=torch.long)))
    assert isinstance(info.value, NNDLError) and str(blocker) in str(info.value)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("n", [0])
def test_trainer_refuses_zero_examples(n):
    trainer = Trainer(nn.Linear(3, 2), lambda p: torch.optim.SGD(p, lr=0.1), supervised_loss(),
                      epochs=1, batch_size=4, progress=False)  # fmt: skip
    with pytest.raises(ValidationError, match="no examples"):
        trainer.fit((torch.zeros(n, 3), torch.zeros(n, dtype=torch.long)))
    with pytest.raises(ValidationError, match="no examples"):
        trainer.fit(torch.utils.data.TensorDataset(torch.zeros(n, 3)))


# ---------------------------------------------------------------------------------------------
# Files that are corrupt or not files: the loader's own error, naming the file
# ---------------------------------------------------------------------------------------------
def _idx_bytes() -> bytes:
    array = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    return (
        bytes([0, 0, 8, 3]) + b"".join(s.to_bytes(4, "big") for s in array.shape) + array.tobytes()
    )


@FUZZ
@given(data=st.data(), compress=st.booleans())
def test_corrupt_idx_files_are_idx_errors(tmp_path, data, compress):
    raw = bytearray(gzip.compress(_idx_bytes()) if compress else _idx_bytes())
    how = data.draw(st.sampled_from(["flip", "truncate", "append"]))
    if how == "flip":
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] ^= data.draw(st.integers(1, 255))
    elif how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        raw += data.draw(st.binary(min_size=1, max_size=8))
    path = tmp_path / ("f.gz" if compress else "f")
    path.write_bytes(bytes(raw))
    try:
        array = read_idx(path)
    except IDXError as exc:
        assert str(path) in str(exc)
    else:  # a flip inside the pixels (or a gzip trailer byte gzip ignores) is still valid IDX
        assert array.size == 60


@FUZZ
@given(dims=st.lists(st.integers(2**20, 2**32 - 1), min_size=1, max_size=4))
def test_huge_idx_headers_report_the_true_byte_count(tmp_path, dims):
    path = tmp_path / "huge"
    path.write_bytes(bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims))
    with pytest.raises(IDXError) as info:
        read_idx(path)
    message = str(info.value)
    assert f"({int(np.prod(dims, dtype=object))} bytes of data)" in message
    assert not re.search(r"\(-\d", message)  # no negative count from an overflow


@pytest.mark.parametrize("reader", [read_idx, load_image, load_checkpoint])
def test_a_folder_given_as_a_file_says_it_is_a_folder(tmp_path, reader):
    folder = tmp_path / "pictures.png"
    folder.mkdir()
    with pytest.raises((IDXError, ImageFileError, CheckpointError), match="is a folder"):
        reader(folder)


# ---------------------------------------------------------------------------------------------
# Library inputs: dequantisation, device names
# ---------------------------------------------------------------------------------------------
@FUZZ
@given(levels=st.integers(-5, 1) | st.sampled_from([2.5, "17", True]))
def test_dequantize_refuses_bad_levels(levels):
    with pytest.raises((ValidationError, DTypeError), match="levels"):
        dequantize(torch.rand(2, 3), levels, torch.Generator().manual_seed(0))


@FUZZ
@given(bad=st.sampled_from([-0.1, 1.5, float("nan"), float("inf")]))
def test_dequantize_refuses_values_outside_the_unit_interval(bad):
    x = torch.rand(4, 4)
    x[1, 2] = bad
    with pytest.raises(ValidationError, match=r"x must lie in \[0, 1\]"):
        dequantize(x, 17)


@FUZZ
@given(levels=st.integers(2, 256), seed=st.integers(0, 2**31))
def test_dequantize_keeps_every_pixel_in_its_bin(levels, seed):
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, levels, (64,), generator=gen)
    out = dequantize(pixels.double() / (levels - 1), levels, gen)
    assert torch.equal(torch.floor(out * levels).long(), pixels)


@pytest.mark.parametrize(
    ("device", "error"),
    [("tpu", ValidationError), ("cuda:x", ValidationError), ("", ValidationError),
     (None, DTypeError), (3, DTypeError), (True, DTypeError)],
)  # fmt: skip
def test_resolve_device_refuses_bad_devices(device, error):
    with pytest.raises(error, match="device"):
        resolve_device(device)


def test_resolve_device_refuses_missing_cuda():
    if torch.cuda.is_available():
        with pytest.raises(ValidationError, match="does not exist"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(ValidationError, match="is_available"):
            resolve_device("cuda")


# ---------------------------------------------------------------------------------------------
# The command line: bad input is always exit 2, never a traceback
# ---------------------------------------------------------------------------------------------
@FUZZ
@given(
    seed=st.integers(SEED_MAX + 1, 10**40) | st.integers(-(10**40), -1),
    command=st.sampled_from(["run", "sample", "evaluate", "train-gan"]),
)
def test_every_seed_outside_its_range_is_exit_2(tmp_path, capsys, seed, command):
    argv = {
        "run": ["run", "f1_universal", "--out", str(tmp_path)],
        "sample": ["sample", str(tmp_path), "--out", str(tmp_path / "g.png")],
        "evaluate": ["evaluate", str(tmp_path)],
        "train-gan": ["train", "gan", "--data", "digits", "--out", str(tmp_path / "r")],
    }[command]
    assert _exit_code(["--quiet", *argv, "--seed", str(seed)]) == 2
    err = _err(capsys)
    assert "--seed" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "vae", "--data", "digits", "--out", "{tmp}/r", "--batch-size", "0"],
        ["train", "vae", "--data", "digits", "--out", "{tmp}/r", "--lr", "nan"],
        ["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--lr-d", "inf"],
        ["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--hidden", "0"],
        ["train", "vae", "--data", "digits", "--out", "{tmp}/r", "--latent-dim", "-2"],
        ["train", "vae", "--data", "folder:{tmp}/none", "--out", "{tmp}/r"],
        ["train", "gan", "--data", "digits", "--out", "{tmp}/file"],
        ["sample", "{tmp}/file", "--out", "{tmp}/g.png"],
        ["evaluate", "{tmp}/file"],
        ["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--device", "cuda:99"],
    ],
)
def test_bad_input_is_exit_2_and_writes_nothing(tmp_path, capsys, argv):
    (tmp_path / "file").write_text("not a folder")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert _exit_code(["--quiet", *argv]) == 2
    assert "Traceback" not in _err(capsys)
    assert not (tmp_path / "r").exists()
    assert (tmp_path / "file").read_text() == "not a folder"


# ---------------------------------------------------------------------------------------------
# The test suite's own reach
# ---------------------------------------------------------------------------------------------
def test_hypothesis_is_derandomised_by_default():
    assert settings.default.derandomize or os.environ.get("HYPOTHESIS_PROFILE") == "explore"


def test_sklearn_data_not_an_array_check_runs_with_pandas():
    import pandas  # noqa: F401  (the dev extra installs it; without it half the check skips)
    from sklearn.utils.estimator_checks import check_classifier_data_not_an_array

    from nndl.linear import LinearClassifier

    check_classifier_data_not_an_array("LinearClassifier", LinearClassifier())
