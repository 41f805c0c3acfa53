"""The stereo experiment without OpenCV: its rows say so and the verdict uses the anchor."""

import sys

from nndl.experiments import run_experiment


def test_runs_without_opencv(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError
    result = run_experiment("c3_stereo_motorcycle", scale="tiny", out=tmp_path, force=True)
    assert result.status == "ok", result.traceback
    rows = {row[0]: row for row in result.tables[0].rows}
    assert rows["OpenCV StereoSGBM"][1] == "not installed"
    assert rows["OpenCV StereoBM"][1] == "not installed"
    assert "ANCHORS.md" in result.verdict("C3").evidence
