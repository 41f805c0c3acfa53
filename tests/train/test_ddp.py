"""The Trainer under ``torchrun --nproc_per_node=2``: two real processes in one DDP group.

A job that ran twice single-process would write the same files, so the test reads what each
rank reports (the process group's world size, the DDP wrapper, a checksum of its weights) and
checks that rank 1 wrote nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nndl.train import load_checkpoint


def evidence(stdout: str) -> dict[int, dict]:
    """The ``EVIDENCE {json}`` line of every rank, by rank."""
    # ranks share one pipe: lines may run together, so decode each record where it starts
    decoder = json.JSONDecoder()
    rows = [decoder.raw_decode(stdout, m.end())[0] for m in re.finditer("EVIDENCE ", stdout)]
    return {row["rank"]: row for row in rows}


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.slow
def test_ddp_two_processes_match_single_process(tmp_path):
    job = Path(__file__).with_name("ddp_job.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(job.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(job), str(tmp_path)],
        capture_output=True, text=True, timeout=240, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = evidence(proc.stdout)
    assert sorted(ranks) == [0, 1]
    for row in ranks.values():
        assert row["world"] == 2 and row["wrapper"] == "DistributedDataParallel"
    assert ranks[0]["checksum"] == ranks[1]["checksum"]  # DDP kept the replicas equal
    assert files_under(tmp_path / "rank1") == []  # rank 1 wrote nothing
    assert (tmp_path / "rank0" / "checkpoint.safetensors").is_file()

    sys.path.insert(0, str(job.parent))
    try:
        import ddp_job
    finally:
        sys.path.remove(str(job.parent))
    single = ddp_job.train()
    assert type(single.model).__name__ == "Sequential"  # single process: no wrapper
    tensors, meta = load_checkpoint(tmp_path / "rank0" / "checkpoint.safetensors")
    assert meta["epoch"] == 3
    for key, value in single.module.state_dict().items():
        torch.testing.assert_close(tensors[f"model.{key}"], value, rtol=1e-5, atol=1e-6)
