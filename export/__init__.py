"""QDQ ONNX export per deployment profile (trt, cpu, fp32; INT4 emulation), graphsurgeon cleanup, placement rules
and a TensorRT lint.

    from export import ExportConfig, export_onnx
    export_onnx(ExportConfig(artifact="runs/calib/uh-sym-w8a8.pt", profile="trt", imgsz=640, out="m_trt.onnx"))
"""
from common.provenance import sidecar_path
from export.config import PROFILES, ExportConfig
from export.exporter import export_model, export_onnx

__all__ = ["PROFILES", "ExportConfig", "export_model", "export_onnx", "sidecar_path"]
