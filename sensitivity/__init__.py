"""Per-layer quantization sensitivity of a detector: which layers a low bit width hurts, from one calibration pass.

    report = sensitivity.analyze_sensitivity(sensitivity.SensitivityConfig(w_bits=4, a_bits=4))  # python -m sensitivity

Both views (a layer quantized alone; a layer kept in float with the rest quantized) are scored for every layer with
a decoded-output proxy on a few images, the top layers with COCO AP; `sensitivity.report` writes the JSON, the
table and the PNG. The mixed-precision search (python -m mixed) ranks layers with the same functions.
"""
from sensitivity.analysis import analyze_sensitivity, proxy_sensitivity, ranked
from sensitivity.config import SensitivityConfig
from sensitivity.layers import QuantizedLayer, quantized_layers, quantized_only
from sensitivity.proxy import decoded_output_error, spearman

__all__ = ["QuantizedLayer", "SensitivityConfig", "analyze_sensitivity", "decoded_output_error", "proxy_sensitivity",
           "quantized_layers", "quantized_only", "ranked", "spearman"]
