"""Post-training quantization of any nn.Module's convs and max pools, with Q-YOLO's Unilateral Histogram
calibration and the NVIDIA-style baselines (minmax, percentile, mse, entropy).

    model = calib.quantize_model(model, calib.QuantConfig(method="uh", scheme="asym", w_bits=8, a_bits=8))
    calib.collect_and_compute(model, batches)      # calibrate, then the model fake-quantizes

The stage's file interface (yolo/ is imported only when these run, so calib works on any nn.Module without it):
    path = calib.calibrate(calib.CalibConfig(quant=calib.QuantConfig(method="uh", scheme="asym")))  # python -m calib
    model, meta = calib.load_calibrated(path)
    calibrated = calib.run_calibration(config)   # the model with its statistics, for recompute_ranges (mixed plans)
"""
from calib.artifact import load_calibrated, save_artifact
from calib.calibrators import CalibratedRange, Calibrator, make_calibrator
from calib.collect import collect_and_compute
from calib.config import QuantConfig
from calib.modes import disable_quantization, enable_calibration, enable_quantization, quant_mode, quantizers, set_mode
from calib.quant_desc import AMAX_FLOOR, QuantDesc, scale_and_zero_point
from calib.quant_modules import QuantConv2d, QuantMatMul, QuantMaxPool2d
from calib.recompute import recompute_ranges
from calib.replace import quantize_model
from calib.stage import CalibConfig, CalibrationPass, calibrate, calibrate_bit_widths, run_calibration
from calib.tensor_quantizer import Mode, TensorQuantizer

__all__ = ["AMAX_FLOOR", "CalibratedRange", "Calibrator", "Mode", "QuantConfig", "QuantConv2d", "QuantDesc",
           "QuantMatMul", "QuantMaxPool2d", "TensorQuantizer", "collect_and_compute", "disable_quantization",
           "enable_calibration", "enable_quantization", "make_calibrator", "quant_mode", "quantize_model", "quantizers",
           "recompute_ranges", "scale_and_zero_point", "set_mode",
           "CalibConfig", "CalibrationPass", "calibrate", "calibrate_bit_widths", "load_calibrated", "run_calibration",
           "save_artifact"]
