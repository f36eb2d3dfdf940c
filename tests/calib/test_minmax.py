"""MinMax: running extremes per tensor and per channel."""
import torch

from calib import QuantDesc
from calib.calibrators import MinMaxCalibrator


def test_per_tensor_running_min_max_and_absmax():
    sym = MinMaxCalibrator(QuantDesc(8, True), "a")
    asym = MinMaxCalibrator(QuantDesc(8, False), "b")
    for batch in (torch.tensor([-0.2, 1.0]), torch.tensor([-3.0, 2.0]), torch.tensor([0.0, 0.5])):
        sym.collect(batch)
        asym.collect(batch)
    assert float(sym.compute_amax().amax) == 3.0 and sym.compute_amax().amin is None
    found = asym.compute_amax()
    assert (float(found.amin), float(found.amax)) == (-3.0, 2.0)


def test_per_channel_along_axis_zero_of_a_conv_weight():
    weight = torch.zeros(3, 2, 1, 1)
    weight[0, 1], weight[1, 0], weight[1, 1] = -5.0, 2.0, -1.0  # channel 2 all zero
    calibrator = MinMaxCalibrator(QuantDesc(8, True, axis=0), "w")
    calibrator.collect(weight)
    assert calibrator.compute_amax().amax.tolist() == [5.0, 2.0, 0.0]
    calibrator.reset()
    calibrator.collect(weight * 2)
    assert calibrator.compute_amax().amax.tolist() == [10.0, 4.0, 0.0]
