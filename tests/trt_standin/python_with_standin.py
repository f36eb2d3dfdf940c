"""Run a `python -m <module>` / `python -c <code>` command with the TensorRT stand-in installed, for tests that drive
the project through `make` (PY="<python> tests/trt_standin/python_with_standin.py"):

    QYOLO_TRT_STANDIN=10 python tests/trt_standin/python_with_standin.py -m engine build --onnx m.onnx

QYOLO_TRT_STANDIN names the TensorRT generation ("10" or "11"). Like `python -m`, the working directory comes first
on sys.path (make runs in the repository root). Test infrastructure only.
"""
import os
import runpy
import sys
from pathlib import Path

ENV = "QYOLO_TRT_STANDIN"


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] not in ("-m", "-c"):
        raise SystemExit(f"usage: {Path(__file__).name} (-m module | -c code) [args...]")
    sys.path[0:1] = [os.getcwd(), str(Path(__file__).resolve().parents[1])]  # the project, and tests/
    from trt_standin import GENERATIONS, CudaTorch, StandInGpu, make_tensorrt
    from trt_standin.cuda import installed

    generation = os.environ.get(ENV, "")
    if generation not in GENERATIONS:
        raise SystemExit(f"{ENV}={generation!r}: set it to one of {sorted(GENERATIONS)}")
    import engine.device

    gpu = StandInGpu()
    sys.modules["tensorrt"] = make_tensorrt(generation, gpu)
    engine.device._import_torch = lambda: CudaTorch(gpu)
    with installed(gpu):
        if argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    main(sys.argv[1:])
