"""PWCNetLite training under ``torchrun --nproc_per_node=2``: a real DDP group, gradients
synchronised through the model's forward (the replicas stay equal), rank 1 writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_train_pwc_under_torchrun(tmp_path):
    job = Path(__file__).with_name("ddp_pwc_job.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(job), str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line.split("EVIDENCE ", 1)[1]) for line in proc.stdout.splitlines()
            if "EVIDENCE " in line]  # fmt: skip
    ranks = {row["rank"]: row for row in rows}
    assert sorted(ranks) == [0, 1]
    for row in ranks.values():
        assert row["world"] == 2 and row["wrapper"] == "DistributedDataParallel"
    assert ranks[0]["checksum"] == pytest.approx(ranks[1]["checksum"], rel=1e-9)
    assert not (tmp_path / "rank1").exists() or not any((tmp_path / "rank1").rglob("*"))
    assert (tmp_path / "rank0" / "checkpoint.safetensors").is_file()
