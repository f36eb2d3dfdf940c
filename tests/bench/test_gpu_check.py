"""`python -m bench gpu-check`: stops at once without a GPU; on the stand-in GPU with the TensorRT stand-in, runs
every step (small sizes) and reports pass or fail per step; its pieces (JUnit counts, the report) on known input."""
import json

import pytest
from trt_standin import install_standin
from trt_standin.cuda import installed

from bench.cli import main
from bench.gpu_check import GpuCheckConfig, StepResult, format_report, junit_counts, run_gpu_check
from common.cli import run_cli

GPU_TEST = '''
import pytest


@pytest.mark.gpu
def test_needs_a_gpu():
    assert True


def test_not_selected():
    raise AssertionError("only tests marked gpu or trt run in the check")
'''


def test_without_a_gpu_it_stops_at_once_with_one_line(tmp_path, capsys):
    out = tmp_path / "check"
    assert run_cli(main, ["gpu-check", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no CUDA GPU visible to PyTorch" in err
    assert not out.exists()  # nothing was started


def test_junit_counts(tmp_path):
    xml = tmp_path / "j.xml"
    xml.write_text('<testsuites><testsuite name="pytest" tests="7" failures="1" errors="0" skipped="2"/>'
                   '<testsuite name="more" tests="3" failures="0" errors="1" skipped="0"/></testsuites>')
    assert junit_counts(xml) == {"tests": 10, "failures": 1, "errors": 1, "skipped": 2}


def test_report_passes_only_when_every_step_did_within_the_budget():
    steps = [StepResult("environment", "pass", 1.0, "GPU"), StepResult("engines", "pass", 100.0, "built")]
    assert format_report(steps, 101.0, 600.0).splitlines()[-1] == "gpu-check PASS: 2/2 steps passed in 1.7 min"
    late = format_report(steps, 700.0, 600.0).splitlines()[-1]
    assert late.startswith("gpu-check FAIL: 2/2 steps passed in 11.7 min (over the 10-minute budget)")
    failed = format_report([*steps, StepResult("fidelity", "fail", 3.0, "AP off")], 104.0, 600.0)
    assert "fidelity     FAIL        3.0  AP off" in failed and failed.endswith("2/3 steps passed in 1.7 min")


@pytest.mark.slow
def test_every_step_through_the_standin(monkeypatch, tmp_path):
    from yolo.synthetic import SyntheticConfig, generate_split

    module = install_standin(monkeypatch, "10")
    data = tmp_path / "data"
    generate_split(data, "calib", SyntheticConfig(n_images=8, seed=3), progress=False)
    _, val = generate_split(data, "val", SyntheticConfig(n_images=8, seed=2), progress=False)
    tests = tmp_path / "gpu_tests" / "test_marked.py"
    tests.parent.mkdir()
    tests.write_text(GPU_TEST)
    cfg = GpuCheckConfig(out=tmp_path / "check", imgsz=128, calib_data=data / "calib", val_data=val,
                         val_images=8, calib_images=12, calib_imgsz=64, calib_device="cpu", tests=(str(tests),),
                         progress=False)
    with installed(module.__standin__.gpu):
        report = run_gpu_check(cfg)
    steps = {step["name"]: step for step in report["steps"]}
    assert list(steps) == ["environment", "gpu tests", "engines", "fidelity", "calibration timing"]
    assert all(step["status"] == "pass" for step in steps.values()), {n: s["summary"] for n, s in steps.items()}
    assert report["passed"] and json.loads((tmp_path / "check" / "report.json").read_text()) == report
    assert steps["environment"]["details"]["tensorrt"] == "10.8.0.43"
    assert "NVIDIA Stand-in GPU (compute capability 8.9" in steps["environment"]["summary"]
    assert steps["gpu tests"]["summary"] == "1/1 passed, 0 skipped"
    assert steps["engines"]["details"]["int8"]["layers"]["int8_convolution_ratio"] >= 0.5
    assert steps["fidelity"]["details"]["int8"]["fidelity"]["verdict"] == "pass"
    assert steps["fidelity"]["details"]["ap_gaps"]["int8"] == 0.0  # the stand-in computes the ONNX exactly
    assert steps["calibration timing"]["details"]["images"] == 12
    assert steps["calibration timing"]["summary"].startswith("12 images at 64 px on cpu: ")


def test_a_missing_tensorrt_fails_the_engine_steps_only(monkeypatch, tmp_path):
    """A GPU without TensorRT (a plain CUDA host): the environment says so, the engine steps fail with the fix,
    the check goes on."""
    import sys

    from bench.gpu_check import step_engines, step_environment

    module = install_standin(monkeypatch, "11")
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    state: dict = {}
    cfg = GpuCheckConfig(out=tmp_path, progress=False)
    with installed(module.__standin__.gpu):
        environment = step_environment(cfg, state)
        engines = step_engines(cfg, state)
    assert environment.status == "pass" and "TensorRT NOT INSTALLED" in environment.summary
    assert engines.status == "fail" and "make docker-build && make docker-shell" in engines.summary
