"""`nndl flow`, `nndl stereo` and `nndl train pwc`, run in-process."""

import numpy as np
import pytest
import torch
from PIL import Image

from nndl.cli import main
from nndl.data import load_stereo_motorcycle
from nndl.flow import translated_pair


def _save(path, img: torch.Tensor) -> str:
    arr = (img.clamp(0, 1) * 255).round().to(torch.uint8)
    arr = arr[0].numpy() if arr.shape[0] == 1 else arr.permute(1, 2, 0).numpy()
    Image.fromarray(arr).save(path)
    return str(path)


@pytest.fixture
def shifted_pair(tmp_path):
    img1, img2, _ = translated_pair("astronaut", (2.0, -1.0))
    return _save(tmp_path / "a.png", img1), _save(tmp_path / "b.png", img2)


def test_flow_writes_a_colour_image_and_the_flow(shifted_pair, tmp_path, capsys):
    out, npy = tmp_path / "flow.png", tmp_path / "flow.npy"
    assert main(["--quiet", "flow", *shifted_pair, "--out", str(out), "--npy", str(npy)]) == 0
    flow = np.load(npy)
    assert flow.shape[0] == 2 and Image.open(out).size == (flow.shape[2], flow.shape[1])
    inner = flow[:, 12:-12, 12:-12].mean((1, 2))
    assert inner == pytest.approx([2.0, -1.0], abs=0.1)
    out_text = capsys.readouterr().out
    assert "mean (u, v) = (" in out_text and "colour image" in out_text


def test_stereo_on_a_crop_of_the_motorcycle_pair(tmp_path, capsys):
    pair = load_stereo_motorcycle()
    crop = (slice(None), slice(200, 296), slice(300, 460))
    left = _save(tmp_path / "left.png", pair.left[crop])
    right = _save(tmp_path / "right.png", pair.right[crop])
    out, npy = tmp_path / "disp.png", tmp_path / "disp.npy"
    args = ["--quiet", "stereo", left, right, "--max-disparity", "64", "--out", str(out)]
    assert main([*args, "--npy", str(npy)]) == 0
    disp, gt = np.load(npy), pair.disparity[crop[1:]].numpy()
    ok = np.isfinite(gt)
    assert np.isfinite(disp).all() and np.mean(np.abs(disp - gt)[ok] > 2) < 0.25
    assert main([*args, "--npy", str(npy), "--no-fill", "--paths", "4"]) == 0
    assert np.isnan(np.load(npy)).any()
    assert "passed the left-right and speckle checks" in capsys.readouterr().out


def test_train_pwc_then_use_the_checkpoint(shifted_pair, tmp_path, capsys):
    folder = tmp_path / "pwc"
    args = [
        "--quiet",
        "train",
        "pwc",
        "--out",
        str(folder),
        "--pairs",
        "8",
        "--val-pairs",
        "2",
        "--epochs",
        "1",
        "--batch-size",
        "4",
    ]
    assert main(args) == 0
    assert "held-out benchmark EPE" in capsys.readouterr().out
    model = folder / "pwc.safetensors"
    out = tmp_path / "pwc.png"
    assert (
        main(
            [
                "--quiet",
                "flow",
                *shifted_pair,
                "--out",
                str(out),
                "--method",
                "pwc",
                "--checkpoint",
                str(model),
            ]
        )
        == 0
    )
    assert out.stat().st_size > 0


def test_flow_uses_the_shipped_weights_by_default(shifted_pair, tmp_path, capsys):
    npy = tmp_path / "pwc.npy"
    args = ["--quiet", "flow", *shifted_pair, "--out", str(tmp_path / "pwc.png")]
    assert main([*args, "--method", "pwc", "--npy", str(npy)]) == 0
    flow = np.load(npy)
    assert flow[:, 16:-16, 16:-16].mean((1, 2)) == pytest.approx([2.0, -1.0], abs=0.3)
    assert "flow pwc:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["flow", "{a}", "{missing}", "--out", "{out}"], "does not exist"),
        (["flow", "{a}", "{small}", "--out", "{out}"], "must have the same size"),
        (["flow", "{a}", "{b}", "--out", "{tmp}/flow.jpg"], "--out must be a .png file"),
        (["flow", "{a}", "{b}", "--out", "{out}", "--checkpoint", "{a}"], "only used with"),
        (["flow", "{a}", "{b}", "--out", "{out}", "--max-flow", "inf"], "--max-flow must be"),
        (["flow", "{a}", "{b}", "--out", "{out}", "--max-flow", "nan"], "--max-flow must be"),
        (["flow", "{a}", "{b}", "--out", "{out}", "--max-flow", "-1"], "--max-flow must be"),
        (["flow", "{a}", "{b}", "--out", "{tmp}/dir.png"], "is a folder"),
        (["flow", "{a}", "{b}", "--out", "{out}", "--npy", "{tmp}"], "is a folder"),
        (
            ["flow", "{a}", "{b}", "--out", "{out}", "--method", "pwc", "--checkpoint", "{a}"],
            "corrupt or not an nndl checkpoint",
        ),
        (["flow", "{a}", "{notimage}", "--out", "{out}"], "cannot be read as an image"),
        (
            ["stereo", "{a}", "{b}", "--max-disparity", "0", "--out", "{out}"],
            "max_disparity must be an int",
        ),
        (["train", "pwc", "--out", "{tmp}/t", "--epochs", "0"], "--epochs must be in [1,"),
        (["train", "pwc", "--out", "{tmp}/t", "--lr", "nan"], "--lr must be in (0, 1]"),
        (["train", "pwc", "--out", "{tmp}/t", "--max-flow", "inf"], "--max-flow must be in"),
    ],
)
def test_bad_input_is_a_clear_error(argv, message, shifted_pair, tmp_path, capsys):
    small = _save(tmp_path / "small.png", torch.rand(3, 10, 10))
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "not.png").write_text("not an image")
    names = {
        "a": shifted_pair[0],
        "b": shifted_pair[1],
        "missing": str(tmp_path / "none.png"),
        "small": small,
        "out": str(tmp_path / "o.png"),
        "tmp": str(tmp_path),
        "notimage": str(tmp_path / "not.png"),
    }
    assert main(["--quiet", *(a.format(**names) for a in argv)]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert err.startswith("nndl: error:") and message in err


def test_train_pwc_resume_reaches_the_recipe_retrain(monkeypatch, tmp_path):
    import nndl.flow

    seen = {}
    original = nndl.flow.retrain_pwc

    def spy(recipe, **kwargs):
        seen.update(kwargs, pairs=recipe.pairs)
        return original(recipe, **kwargs)

    monkeypatch.setattr(nndl.flow, "retrain_pwc", spy)
    args = ["--quiet", "train", "pwc", "--out", str(tmp_path / "r"), "--pairs", "4"]
    small = ["--val-pairs", "2", "--epochs", "1", "--batch-size", "4", "--resume"]
    assert main([*args, *small]) == 0
    assert seen["resume"] is True and seen["pairs"] == 4
    assert seen["checkpoint_dir"] == tmp_path / "r"
