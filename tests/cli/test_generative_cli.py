"""``nndl train vae|gan|gmm``, ``nndl sample`` and ``nndl evaluate``, in-process, plus one
two-process ``torchrun`` run of ``nndl train gan`` compared with the single-process result."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from nndl.cli import main
from nndl.generative import VAE
from nndl.generative.gan import GAN

TINY_GAN = ["--epochs", "1", "--latent-dim", "4", "--hidden", "16,16", "--batch-size", "64"]


def _err(capsys) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(capsys.readouterr().err.split())


def _train_gan(run: Path, *extra: str) -> int:
    return main(
        ["--quiet", "train", "gan", "--data", "digits", "--out", str(run), *TINY_GAN, *extra]
    )


def test_gan_train_resume_sample_evaluate(tmp_path, capsys):
    run = tmp_path / "gan"
    assert _train_gan(run) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "gan" and config["status"] == "done"
    assert config["settings"]["latent_dim"] == 4 and config["image_shape"] == [1, 8, 8]
    assert (run / "model.safetensors").is_file() and (run / "train" / "gradients.json").is_file()

    # resuming to 2 epochs gives the weights of an uninterrupted 2-epoch run
    assert _train_gan(run, "--resume", "--epochs", "2") == 0
    assert len(json.loads((run / "history.json").read_text())) == 2
    straight = tmp_path / "straight"
    assert _train_gan(straight, "--epochs", "2") == 0
    a, b = (
        GAN.from_checkpoint(run / "model.safetensors"),
        GAN.from_checkpoint(straight / "model.safetensors"),
    )
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name

    grid = tmp_path / "grid.png"
    assert main(["sample", str(run), "--n", "12", "--nrow", "4", "--out", str(grid)]) == 0
    with Image.open(grid) as png:
        assert png.size == (4 * (4 * 9 + 1), 4 * (3 * 9 + 1))  # 4 × 3 images, upscaled 4×
    capsys.readouterr()
    assert main(["--quiet", "evaluate", str(run), "--classifier-epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "defines no density" in out and "real vs real (floor)" in out
    report = json.loads((run / "evaluation.json").read_text())
    assert report["sample_quality"]["n_samples"] == report["real_floor"]["n_samples"]
    assert report["real_floor"]["fd"] < report["sample_quality"]["fd"]


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
def test_vae_and_gmm_report_test_log_likelihood(tmp_path, capsys):
    vae_run, gmm_run = tmp_path / "vae", tmp_path / "gmm"
    assert main(["--quiet", "train", "vae", "--data", "digits", "--out", str(vae_run),
                 "--epochs", "1", "--hidden", "32", "--latent-dim", "2"]) == 0  # fmt: skip
    assert isinstance(VAE.from_checkpoint(vae_run / "model.safetensors"), VAE)
    assert main(["--quiet", "train", "gmm", "--data", "digits", "--out", str(gmm_run),
                 "--components", "3", "--covariance", "diag", "--max-iter", "5"]) == 0  # fmt: skip
    assert main(["sample", str(gmm_run), "--n", "9", "--out", str(tmp_path / "g.png")]) == 0
    assert (
        main(["sample", str(vae_run), "--n", "9", "--mean", "--out", str(tmp_path / "v.png")]) == 0
    )
    assert main(["sample", str(gmm_run), "--mean", "--out", str(tmp_path / "x.png")]) == 2
    capsys.readouterr()
    for run, what in ((vae_run, "importance-weighted, k = 8"), (gmm_run, "exact")):
        assert main(["--quiet", "evaluate", str(run), "--k", "8", "--classifier-epochs", "2"]) == 0
        out = capsys.readouterr().out
        assert what in out and "nats per image" in out and "bits per dimension" in out
        report = json.loads((run / "evaluation.json").read_text())
        # bits/dim of the quantised data = −log₂ P(pixel) per dimension: between 0 and log₂ 17
        assert 0 < report["bits_per_dim"] < 4.09
    history = json.loads((gmm_run / "history.json").read_text())
    lls = [h["log_likelihood"] for h in history]
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(lls))  # EM never decreases


def test_folder_data_without_labels(tmp_path, capsys):
    folder = tmp_path / "pics"
    folder.mkdir()
    gen = torch.Generator().manual_seed(0)
    for i in range(20):
        pixels = (torch.rand(8, 8, generator=gen) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"{i:02d}.png")
    run = tmp_path / "run"
    assert main(["--quiet", "train", "gan", "--data", f"folder:{folder}", "--out", str(run),
                 "--epochs", "1", "--batch-size", "4", "--hidden", "8"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["--quiet", "evaluate", str(run)]) == 0
    assert "needs labelled data" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["sample", "{missing}", "--out", "{tmp}/g.png"], "does not exist"),
        (["evaluate", "{tmp}"], "config.json is missing"),
        (["train", "gan", "--data", "cifar", "--out", "{tmp}/r"], "data must be 'digits'"),
        (["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--epochs", "0"], "--epochs"),
        (["train", "vae", "--data", "digits", "--out", "{tmp}/r", "--lr", "-1"], "--lr"),
        (["train", "gan", "--data", "mnist:{missing}", "--out", "{tmp}/r"], "does not exist"),
        (["train", "gan", "--data", "digits", "--out", "{tmp}/r", "--image-size", "16"], "folder:"),
        (["train", "vae", "--data", "digits", "--out", "{tmp}/r", "--device", "tpu"], "device"),
    ],
)
def test_bad_input_is_a_clear_error(argv, message, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path, missing=tmp_path / "nope") for a in argv]
    assert main(["--quiet", *argv]) == 2
    err = _err(capsys)
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r" / "config.json").exists()  # nothing written before the error


def test_corrupt_or_mismatched_runs_are_clear_errors(tmp_path, capsys):
    run = tmp_path / "gan"
    assert _train_gan(run) == 0
    capsys.readouterr()
    assert _train_gan(run) == 2
    assert "already holds a run; pass --resume" in _err(capsys)
    assert _train_gan(run, "--resume", "--latent-dim", "5") == 2
    assert "trained with latent_dim = 4" in _err(capsys)
    assert main(["--quiet", "train", "vae", "--data", "digits", "--out", str(run), "--resume"]) == 2
    assert "cannot be resumed as a vae" in _err(capsys)
    assert main(["sample", str(run), "--out", str(tmp_path / "g.jpg")]) == 2
    assert "must be a .png" in _err(capsys)

    (run / "model.safetensors").write_bytes(b"garbage")
    assert main(["sample", str(run), "--out", str(tmp_path / "g.png")]) == 2
    assert "corrupt or not an nndl checkpoint" in _err(capsys)
    (run / "model.safetensors").unlink()
    assert main(["sample", str(run), "--out", str(tmp_path / "g.png")]) == 2
    assert "holds no trained model" in _err(capsys)
    (run / "train" / "checkpoint.safetensors").write_bytes(b"\x00" * 16)
    assert _train_gan(run, "--resume", "--epochs", "2") == 2
    assert "corrupt" in _err(capsys)
    (run / "config.json").write_text("{not json")
    assert main(["evaluate", str(run)]) == 2
    assert "config.json' is corrupt" in _err(capsys)


def _digits_as_idx(folder: Path, n_train: int, n_test: int) -> None:
    """The first digits as MNIST-style IDX files (8×8, 0…255) in ``folder``."""
    from sklearn.datasets import load_digits

    from nndl.data import write_idx

    bunch = load_digits()
    images = (bunch.images * 255 / 16).round().astype("uint8")
    labels = bunch.target.astype("uint8")
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", images[:n_train])
    write_idx(folder / "train-labels-idx1-ubyte", labels[:n_train])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[n_train : n_train + n_test])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[n_train : n_train + n_test])


def _torchrun(argv: list[str]) -> dict[int, dict]:
    """Run ``nndl argv`` on two ranks (``{rank}`` → the rank); the EVIDENCE of each rank."""
    job = Path(__file__).with_name("ddp_cli_job.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(job), *argv],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    # ranks share one pipe: lines may run together, so decode each record where it starts
    decoder = json.JSONDecoder()
    rows = [
        decoder.raw_decode(proc.stdout, m.end())[0] for m in re.finditer("EVIDENCE ", proc.stdout)
    ]
    return {row["rank"]: row for row in rows}


def _check_two_ranks(ranks: dict[int, dict], modules: list[str], tmp_path: Path) -> None:
    """Both ranks ran in a group of 2, wrapped ``modules`` in DDP, ended with equal weights,
    and rank 1 wrote nothing."""
    assert sorted(ranks) == [0, 1] and all(r["code"] == 0 for r in ranks.values())
    for row in ranks.values():
        assert [w["module"] for w in row["wrapped"]] == modules
        assert all(w["world"] == 2 for w in row["wrapped"])
    for a, b in zip(ranks[0]["wrapped"], ranks[1]["wrapped"], strict=True):
        assert a["checksum"] == pytest.approx(b["checksum"], rel=1e-12)
    rank1 = tmp_path / "ddp1"
    assert not rank1.exists() or not [p for p in rank1.rglob("*") if p.is_file()]


@pytest.mark.slow
def test_torchrun_gan_two_processes_match_single_process(tmp_path):
    # 256 training images: every global batch splits evenly over the two ranks (with a count
    # that does not divide, DistributedSampler pads the last batch by repeating an image, as in
    # nndl.train.Trainer, and the last step differs slightly from the single-process one)
    _digits_as_idx(tmp_path / "idx", 256, 64)
    argv = ["--quiet", "train", "gan", "--data", f"mnist:{tmp_path / 'idx'}", *TINY_GAN]
    argv[argv.index("--epochs") + 1] = "2"
    ranks = _torchrun([*argv, "--out", str(tmp_path / "ddp{rank}")])
    wrapped = [w["module"] for w in ranks[0]["wrapped"]]
    assert len(wrapped) >= 1  # the generator and discriminator (or the pair) in DDP
    _check_two_ranks(ranks, wrapped, tmp_path)
    ddp_run, single_run = tmp_path / "ddp0", tmp_path / "single"
    assert json.loads((ddp_run / "config.json").read_text())["status"] == "done"
    assert main([*argv, "--out", str(single_run)]) == 0
    ddp = GAN.from_checkpoint(ddp_run / "model.safetensors")
    single = GAN.from_checkpoint(single_run / "model.safetensors")
    for (name, x), (_, y) in zip(
        ddp.state_dict().items(), single.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=name)
    h_ddp = json.loads((ddp_run / "history.json").read_text())
    h_single = json.loads((single_run / "history.json").read_text())
    assert [h["step"] for h in h_ddp] == [4, 8]
    assert h_ddp[-1]["loss_d"] == pytest.approx(h_single[-1]["loss_d"], rel=1e-5)


@pytest.mark.slow
def test_torchrun_vae_two_processes(tmp_path):
    _digits_as_idx(tmp_path / "idx", 256, 64)
    argv = ["--quiet", "train", "vae", "--data", f"mnist:{tmp_path / 'idx'}", "--epochs", "2",
            "--hidden", "16", "--latent-dim", "2", "--batch-size", "64"]  # fmt: skip
    ranks = _torchrun([*argv, "--out", str(tmp_path / "ddp{rank}")])
    _check_two_ranks(ranks, ["VAE"], tmp_path)
    run = tmp_path / "ddp0"
    assert json.loads((run / "config.json").read_text())["status"] == "done"
    vae = VAE.from_checkpoint(run / "model.safetensors")
    saved = float(sum(p.detach().double().abs().sum() for p in vae.parameters()))
    assert saved == pytest.approx(ranks[0]["wrapped"][0]["checksum"], rel=1e-12)
    # each rank draws its own reparameterisation noise, so the run is not bitwise the
    # single-process one; the two ELBOs after the same 8 steps on the same data stay close
    assert main([*argv, "--out", str(tmp_path / "single")]) == 0
    h_ddp = json.loads((run / "history.json").read_text())
    h_single = json.loads((tmp_path / "single" / "history.json").read_text())
    assert [h["epoch"] for h in h_ddp] == [1, 2]
    assert h_ddp[-1]["loss"] == pytest.approx(h_single[-1]["loss"], rel=0.05)
