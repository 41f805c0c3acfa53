import pytest

from nndl import ValidationError
from nndl.experiments.batch import Job, parse_seeds, run_many, seed_dir


def test_parse_seeds_ranges_and_lists():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,3, 7-8") == [0, 3, 7, 8]
    assert parse_seeds("5") == [5]


@pytest.mark.parametrize("text", ["", "a", "4-1", "-1", "0,0", "0-5000", str(2**32)])
def test_parse_seeds_rejects_bad_text(text):
    with pytest.raises(ValidationError, match="--seeds"):
        parse_seeds(text)


def test_seed_dir_puts_the_first_seed_at_the_top(tmp_path):
    assert seed_dir(tmp_path, 3, first_seed=3) == tmp_path
    assert seed_dir(tmp_path, 4, first_seed=3) == tmp_path / "seeds" / "seed-4"


def test_run_many_rejects_bad_worker_counts():
    with pytest.raises(ValidationError, match="jobs must be an int >= 1"):
        run_many([], workers=0)


@pytest.mark.slow
def test_worker_processes_give_the_serial_results(tmp_path):
    # a real registered experiment, because worker processes import the registry afresh
    name = "p3_receptive_field"
    serial = run_many([Job(name, str(tmp_path / "s"), "tiny", seed) for seed in (0, 1)])
    parallel = run_many(
        [Job(name, str(tmp_path / "p"), "tiny", seed) for seed in (0, 1)], workers=2
    )
    assert [r.seed for r in parallel] == [0, 1]
    for a, b in zip(serial, parallel, strict=True):
        assert a.status == b.status == "ok"
        assert a.metrics == b.metrics
        assert [(v.claim, v.status, v.evidence) for v in a.verdicts] == [
            (v.claim, v.status, v.evidence) for v in b.verdicts
        ]
