import json
import subprocess
import sys

import pytest

from nndl.cli import main


def test_list_shows_every_experiment(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "g3_product_of_factors" in out and "G3" in out
    assert main(["list", "G3"]) == 0
    assert main(["list", "zzz*"]) == 2
    assert "no experiment matches" in capsys.readouterr().err


def test_run_prints_numbers_and_verdicts(tmp_path, capsys):
    code = main(
        [
            "--quiet",
            "run",
            "g3_product_of_factors",
            "--scale",
            "tiny",
            "--out",
            str(tmp_path),
            "--set",
            "chains_per_depth=3",
            "--seed",
            "2",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "max_relative_error" in out and "G3" in out and "holds" in out
    stored = json.loads((tmp_path / "g3_product_of_factors" / "result.json").read_text())
    assert stored["config"]["chains_per_depth"] == 3 and stored["seed"] == 2


def test_unknown_experiment_lists_closest_first(capsys):
    assert main(["run", "g3_prod"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'g3_prod'; known: g3_product_of_factors" in err


@pytest.mark.parametrize(
    "setting,message",
    [
        ("chains=3", "unknown config key 'chains'; valid: chains_per_depth"),
        ("chains_per_depth=many", "chains_per_depth expects an int, got 'many'"),
        ("novalue", "--set expects key=value"),
    ],
)
def test_bad_set_is_reported(setting, message, capsys, tmp_path):
    assert main(["run", "g3_product_of_factors", "--out", str(tmp_path), "--set", setting]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "g3_product_of_factors").exists()


def test_unwritable_output_folder(capsys):
    assert (
        main(
            [
                "report",
                "--scale",
                "tiny",
                "--out",
                "/proc/nndl-report",
                "--only",
                "g3_product_of_factors",
            ]
        )
        == 2
    )
    assert "output folder '/proc/nndl-report' cannot be created" in capsys.readouterr().err


def test_report_runs_caches_and_reports_durations(tmp_path, capsys):
    args = [
        "--quiet",
        "report",
        "--scale",
        "tiny",
        "--out",
        str(tmp_path),
        "--only",
        "g3_product_of_factors",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "g3_product_of_factors" in out and " s " in out and str(tmp_path / "index.html") in out
    assert main(args) == 0
    assert "cached" in capsys.readouterr().out
    assert main([*args, "--force"]) == 0
    assert "cached" not in capsys.readouterr().out


def test_help_on_every_command(capsys):
    for args in (["list"], ["run"], ["report"], ["train"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*args, "--help"])
        assert exit_info.value.code == 0
        assert f"usage: nndl {args[0]}" in capsys.readouterr().out


def test_module_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "nndl", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "usage: nndl" in proc.stdout
