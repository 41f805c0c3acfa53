"""The stereo experiment without OpenCV: the guard makes C1 inconclusive and says why."""

import sys

from nndl.experiments import run_experiment


def test_missing_opencv_is_an_inconclusive_guard_not_a_constant(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError
    result = run_experiment("c1_stereo_motorcycle", scale="tiny", out=tmp_path, force=True)
    assert result.status == "ok", result.traceback
    verdict = result.verdict("C1")
    assert verdict.status == "inconclusive" and "OpenCV" in verdict.reason
    names = [row[0] for row in result.tables[0].rows]
    assert not any(name.startswith("OpenCV") for name in names)
