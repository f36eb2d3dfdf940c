"""quantize_model on models it has never seen: rules by type, skip rules by structure and by name glob."""
import pytest
import torch
from torch import nn

from calib import QuantConfig, QuantMaxPool2d, collect_and_compute, quantize_model, quantizers


def plain_sequential() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.SiLU(), nn.Conv2d(8, 8, 3, padding=1), nn.SiLU(),
                         nn.Sequential(nn.Conv2d(8, 8, 1), nn.MaxPool2d(3, 1, 1)), nn.Conv2d(8, 4, 1))


class Detect(nn.Module):  # same class name as YOLOv5's head: the default rule keys on the name, not the import
    def __init__(self):
        super().__init__()
        self.m = nn.ModuleList(nn.Conv2d(8, 6, 1) for _ in range(2))

    def forward(self, x):
        return [conv(x) for conv in self.m]


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.ModuleDict({"block": plain_sequential()[2:5]})
        self.head = Detect()

    def forward(self, x):
        return self.head(self.body["block"](torch.relu(self.stem(x))))


def kinds(model: nn.Module) -> dict[str, str]:
    return {name: type(m).__name__ for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d))}


def test_plain_sequential_default_rules_and_skip_glob():
    model = quantize_model(plain_sequential(), QuantConfig(skip=("4.*",)))
    assert kinds(model) == {"0": "Conv2d", "2": "QuantConv2d", "4.0": "Conv2d", "4.1": "MaxPool2d",
                            "5": "QuantConv2d"}
    assert [name for name, _ in quantizers(model)] == ["2.input_quantizer", "2.weight_quantizer",
                                                        "5.input_quantizer", "5.weight_quantizer"]


def test_nested_model_keeps_stem_and_detect_head_float():
    model = quantize_model(Nested(), QuantConfig(method="minmax", scheme="sym", quantize_maxpool=False))
    assert kinds(model) == {"stem": "Conv2d", "body.block.2": "QuantConv2d", "body.block.4.0": "QuantConv2d",
                            "body.block.4.1": "MaxPool2d", "head.m.0": "Conv2d", "head.m.1": "Conv2d"}
    collect_and_compute(model, [torch.randn(2, 3, 8, 8)], progress=False)
    assert all(out.shape == (2, 6, 8, 8) for out in model(torch.randn(2, 3, 8, 8)))


def test_everything_quantized_when_structural_skips_are_off():
    model = quantize_model(Nested(), QuantConfig(skip_first_conv=False, float_head_classes=()))
    assert set(kinds(model).values()) == {"QuantConv2d", "QuantMaxPool2d"}


def test_quantized_conv_keeps_parameters_and_state_dict_keys():
    model = plain_sequential()
    weight = model[2].weight
    quantize_model(model, QuantConfig())
    assert isinstance(model[2], nn.Conv2d) and model[2].weight is weight and isinstance(model[4][1], QuantMaxPool2d)
    assert {"2.weight", "2.bias", "2.input_quantizer.amax", "2.input_quantizer.amin",
            "2.weight_quantizer.amax"} <= set(model.state_dict())


def test_yolov5_default_rules_float_stem_and_detect_convs_only():
    from yolo.configs import yolov5_cfg
    from yolo.registry import build_model

    model = build_model(yolov5_cfg("n", nc=2)).eval()
    quantize_model(model, QuantConfig())
    float_convs = [name for name, kind in kinds(model).items() if kind == "Conv2d"]
    assert float_convs == ["model.0.conv", "model.24.m.0", "model.24.m.1", "model.24.m.2"]
    assert kinds(model)["model.9.m"] == "QuantMaxPool2d"  # the SPPF pool


def test_refuses_to_quantize_twice():
    model = quantize_model(plain_sequential(), QuantConfig())
    with pytest.raises(ValueError, match="already contains"):
        quantize_model(model, QuantConfig())


def test_state_dict_round_trip_reproduces_outputs():
    torch.manual_seed(0)
    source = plain_sequential()
    pristine = {k: v.clone() for k, v in source.state_dict().items()}
    config = QuantConfig(method="uh", scheme="asym", w_bits=4, a_bits=6)
    quantize_model(source, config)
    collect_and_compute(source, [torch.randn(2, 3, 16, 16) for _ in range(2)], progress=False)
    saved = source.state_dict()

    target = plain_sequential()
    target.load_state_dict(pristine)
    quantize_model(target, QuantConfig.from_dict(config.to_dict()))
    target.load_state_dict(saved)
    x = torch.randn(1, 3, 16, 16)
    assert torch.equal(source(x), target(x))
    assert dict(quantizers(target))["2.input_quantizer"].describe() == \
        dict(quantizers(source))["2.input_quantizer"].describe()
