"""What can go wrong around TensorRT, said once and clearly: missing module, version mismatch, no INT8, parser errors.

Every function here is pure (strings in, strings or QYoloError out) so the messages are tested on machines
without TensorRT; the modules that talk to TensorRT raise what these build.
"""
from typing import Iterable

from common.errors import QYoloError

DOCKER_IMAGE_HINT = (
    "TensorRT is not installed in this Python. Run the GPU targets inside the project's image: "
    "`make docker-build && make docker-shell` (base nvcr.io/nvidia/pytorch, TensorRT included; "
    "see docs/gpu-workflow.md)"
)

# TensorRT 10's support matrix: GPUs of compute capability 7.0 (Volta) or newer; INT8 runs on every one of them.
MIN_INT8_COMPUTE_CAPABILITY = (7, 0)


def missing_tensorrt_message(import_error: BaseException | None = None) -> str:
    reason = f" ({type(import_error).__name__}: {import_error})" if import_error else ""
    return DOCKER_IMAGE_HINT + reason


def import_tensorrt():
    """`import tensorrt`, turning its absence into the one-line message that names the Docker image."""
    try:
        import tensorrt
    except ImportError as exc:  # also catches a broken install whose shared libraries are missing
        raise QYoloError(missing_tensorrt_message(exc)) from None
    return tensorrt


def tensorrt_available() -> bool:
    try:
        import_tensorrt()
    except QYoloError:
        return False
    return True


def major_version(version: str) -> int:
    """'10.8.0.43' -> 10. A version string we cannot read is a user-visible error, not a silent 0."""
    head = str(version).strip().split(".")[0]
    if not head.isdigit():
        raise QYoloError(f"cannot read a TensorRT major version from {version!r}")
    return int(head)


def version_mismatch_message(engine_path: str, built_with: str, runtime: str, source_onnx: str | None = None) -> str:
    return (f"engine {engine_path} was built by TensorRT {built_with}, but this is TensorRT {runtime}: "
            f"serialized engines only load in the TensorRT version that built them. Rebuild it here: "
            f"`python -m engine build --onnx {source_onnx or '<its .onnx>'} --out {engine_path}` "
            f"(or delete it and run `make engine`: to make the file looks up to date)")


def check_engine_version(engine_path: str, built_with: str | None, runtime: str,
                         source_onnx: str | None = None) -> None:
    """Raise the rebuild message when the sidecar's TensorRT version differs from the running one."""
    if built_with is not None and str(built_with) != str(runtime):
        raise QYoloError(version_mismatch_message(engine_path, built_with, runtime, source_onnx))


def deserialize_failure_message(engine_path: str, runtime: str, built_with: str | None) -> str:
    causes = [f"built by another TensorRT version (sidecar says {built_with or 'unknown'}, this is {runtime})",
              "built on a different GPU architecture (engines are specific to the GPU they were built on)",
              "the file is truncated or not a TensorRT engine"]
    return (f"TensorRT could not load engine {engine_path}. Likely causes: " + "; ".join(causes)
            + ". Rebuild it on this machine: delete it and run `make engine` (or `python -m engine build`)")


def checked(result, what: str, subject):
    """`result`, or the error saying which TensorRT call failed: its Python API returns None where the C++ call
    returned nullptr (GPU memory exhausted, an unusable engine), which would otherwise fail later as an
    AttributeError on None."""
    if result is None:
        raise QYoloError(f"TensorRT could not {what} for {subject} (see TensorRT's messages above; often the GPU "
                         f"memory is exhausted: close other GPU processes, or use a smaller batch or workspace)")
    return result


def int8_supported(compute_capability: tuple[int, int]) -> bool:
    return tuple(compute_capability) >= MIN_INT8_COMPUTE_CAPABILITY


def check_int8_support(gpu_name: str, compute_capability: tuple[int, int]) -> None:
    if not int8_supported(compute_capability):
        major, minor = compute_capability
        raise QYoloError(
            f"GPU {gpu_name} (compute capability {major}.{minor}) is older than the GPUs TensorRT 10 supports "
            f"(compute capability {MIN_INT8_COMPUTE_CAPABILITY[0]}.{MIN_INT8_COMPUTE_CAPABILITY[1]}, Volta, or "
            f"newer, all of them with INT8): build and run the engines on such a GPU")


def format_parser_errors(onnx_path: str, errors: Iterable[str]) -> str:
    """All ONNX parser errors, numbered, under one heading (the CLI prints this in full, then exits 2)."""
    lines = [f"TensorRT's ONNX parser rejected {onnx_path}:"]
    lines += [f"  [{i}] {text}" for i, text in enumerate(errors, 1)]
    if len(lines) == 1:
        lines.append("  (the parser gave no details; rerun with --verbose for TensorRT's log)")
    lines.append("Check it first with `python -m export.lint` and that it was exported with the `trt` profile "
                 "(opset >= 13, int8 Q/DQ with zero point 0).")
    return "\n".join(lines)


def parser_error_text(error) -> str:
    """One TensorRT IParserError as text; str() already carries node and description, the rest is best effort."""
    text = str(error).strip()
    if text:
        return text
    parts = []
    for attr in ("code", "node_name", "node_operator", "desc"):
        getter = getattr(error, attr, None)
        if callable(getter):
            try:
                parts.append(f"{attr}={getter()}")
            except Exception:  # an accessor this TensorRT version does not implement
                continue
    return ", ".join(parts) or repr(error)
