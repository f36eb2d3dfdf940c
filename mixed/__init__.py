"""Mixed precision from a sensitivity ranking: the most sensitive layers raised to 8 bits, the rest kept low.

    report = mixed.search_mixed(mixed.MixedConfig(low_bits=(4, 4), high_bits=(8, 8), target_drop=3.0))
    # python -m mixed: writes <out>/mixed.pt (a calibrated artifact with per-layer widths), mixed.json, mixed.png

The artifact's per-layer widths live in its QuantConfig (layer_bits): calib.load_calibrated, python -m export
(trt and cpu profiles) and python -m eval (fidelity check included) take it like any other artifact.
"""
from mixed.config import MixedConfig
from mixed.search import budget_schedule, search_mixed

__all__ = ["MixedConfig", "budget_schedule", "search_mixed"]
