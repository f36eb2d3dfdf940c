"""QuantConfig: what to quantize, with which calibrator and grid. Validated on construction."""
import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from calib.calibrators import CALIBRATORS, SYMMETRIC_ONLY
from calib.quant_desc import MAX_BITS, MIN_BITS, QuantDesc

SCHEMES = ("sym", "asym")


@dataclass(frozen=True)
class QuantConfig:
    """Settings of `quantize_model`.

    method: activation calibrator (minmax | percentile | mse | entropy | uh). Weights always use symmetric
        per-output-channel MinMax (absmax), as in the paper.
    scheme: activation grid, "sym" (int8-style, zero point 0: TensorRT) or "asym" (uint8-style with integer zero
        point: the published UH, the CPU profile). percentile/mse/entropy fold |x| and are "sym" only.
    w_bits, a_bits: weight and activation bit widths, independent, 2..8.
    skip_first_conv: keep the first nn.Conv2d met in module order in float (the stem conv on the raw image).
    float_head_classes: every conv inside a module whose class name is listed stays in float. ("Detect",) keeps
        YOLOv5's output 1x1 convs in float whatever the model's depth or width: its Detect layer is "model.24" in
        the P5 models and "model.33" in P6 ones, so a fixed name glob would be wrong for one of them.
    skip: extra fnmatch globs on module names (e.g. "model.9.*"); a matching Conv2d/MaxPool2d stays in float.
    quantize_maxpool: quantize nn.MaxPool2d inputs (YOLOv5's SPPF pools).
    layer_bits: per-layer bit widths that differ from w_bits/a_bits (mixed precision): (module name, w_bits,
        a_bits) triples, one per quantized Conv2d/MaxPool2d named exactly (a MaxPool2d has no weights: its w_bits is
        ignored). Given as such triples, or as {name: {"w_bits": w, "a_bits": a}} (what to_dict writes and an
        artifact stores). Empty (the default, and every artifact written before mixed precision): uniform widths.
    quantize_matmul: quantize both inputs of every common.matmul.MatMul module (YOLO11's attention: q^T k and
        v attn^T), with the activation calibrator and grid. Off by default: the attention MatMuls and the Softmax
        between them stay float (the Softmax is never quantized).
    """

    method: str = "uh"
    scheme: str = "asym"
    w_bits: int = 8
    a_bits: int = 8
    percentile: float = 99.99
    num_bins: int = 2048
    start_bin: int = 128
    skip_first_conv: bool = True
    float_head_classes: tuple[str, ...] = ("Detect",)
    skip: tuple[str, ...] = ()
    quantize_maxpool: bool = True
    layer_bits: tuple[tuple[str, int, int], ...] = ()
    quantize_matmul: bool = False

    def __post_init__(self) -> None:
        self._check_calibrator()
        self._check_histogram()
        for field in ("skip_first_conv", "quantize_maxpool", "quantize_matmul"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"{field} must be true or false, got {getattr(self, field)!r}")
        # Lists from JSON or argparse become tuples so the config stays hashable and immutable.
        for field in ("skip", "float_head_classes"):
            value = getattr(self, field)
            if isinstance(value, str):
                raise ValueError(f"{field} must be a list of strings, got the single string {value!r}")
            object.__setattr__(self, field, tuple(value))
        object.__setattr__(self, "layer_bits", _layer_bits_triples(self.layer_bits))

    def _check_calibrator(self) -> None:
        """Method, grid and bit widths."""
        if self.method not in CALIBRATORS:
            raise ValueError(f"unknown calibration method {self.method!r}; choose one of {sorted(CALIBRATORS)}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {self.scheme!r}; choose 'sym' or 'asym'")
        if self.scheme == "asym" and self.method in SYMMETRIC_ONLY:
            raise ValueError(f"method {self.method!r} folds |x| (NVIDIA semantics) and is symmetric only; "
                             "use scheme='sym', or method 'uh' / 'minmax' for an asymmetric grid")
        for field in ("w_bits", "a_bits"):
            bits = getattr(self, field)
            if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
                raise ValueError(f"{field} must be an integer in {MIN_BITS}..{MAX_BITS}, got {bits!r}")

    def _check_histogram(self) -> None:
        """The histogram calibrators' settings."""
        if not 0.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {self.percentile!r}")
        if not isinstance(self.num_bins, int) or self.num_bins < 2:
            raise ValueError(f"num_bins must be an integer >= 2, got {self.num_bins!r}")
        if not isinstance(self.start_bin, int) or not 0 <= self.start_bin < self.num_bins:
            raise ValueError(f"start_bin must be an integer in 0..num_bins-1 ({self.num_bins - 1}), "
                             f"got {self.start_bin!r}")

    @property
    def activation_desc(self) -> QuantDesc:
        return QuantDesc(num_bits=self.a_bits, symmetric=self.scheme == "sym", axis=None)

    @property
    def weight_desc(self) -> QuantDesc:
        """Per-output-channel symmetric: axis 0 of a Conv2d weight [out, in/groups, kh, kw]."""
        return QuantDesc(num_bits=self.w_bits, symmetric=True, axis=0)

    @property
    def is_mixed(self) -> bool:
        return any((w, a) != (self.w_bits, self.a_bits) for _, w, a in self.layer_bits)

    def bits_for(self, layer: str) -> tuple[int, int]:
        """(w_bits, a_bits) of the quantized module named `layer`: its layer_bits entry, else the uniform widths."""
        for name, w_bits, a_bits in self.layer_bits:
            if name == layer:
                return w_bits, a_bits
        return self.w_bits, self.a_bits

    def activation_desc_for(self, layer: str) -> QuantDesc:
        return dataclasses.replace(self.activation_desc, num_bits=self.bits_for(layer)[1])

    def weight_desc_for(self, layer: str) -> QuantDesc:
        return dataclasses.replace(self.weight_desc, num_bits=self.bits_for(layer)[0])

    def with_layer_bits(self, layer_bits: Mapping[str, tuple[int, int]] | Iterable) -> "QuantConfig":
        """This config with another per-layer plan (entries equal to the uniform widths are dropped)."""
        triples = _layer_bits_triples(layer_bits)
        return dataclasses.replace(self, layer_bits=tuple(t for t in triples if t[1:] != (self.w_bits, self.a_bits)))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["skip"], data["float_head_classes"] = list(self.skip), list(self.float_head_classes)
        data["layer_bits"] = {name: {"w_bits": w, "a_bits": a} for name, w, a in self.layer_bits}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "QuantConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown QuantConfig fields {unknown}; known: {sorted(known)}")
        return cls(**data)


def _layer_bits_triples(value: Any) -> tuple[tuple[str, int, int], ...]:
    """Sorted (name, w_bits, a_bits) triples from triples, {name: (w, a)} or {name: {"w_bits", "a_bits"}}."""
    if isinstance(value, str):
        raise ValueError(f"layer_bits must map layer names to bit widths, got the single string {value!r}")
    if isinstance(value, Mapping):
        items = []
        for name, bits in value.items():
            if isinstance(bits, Mapping):
                if set(bits) != {"w_bits", "a_bits"}:
                    raise ValueError(f"layer_bits[{name!r}] must hold w_bits and a_bits, got {sorted(bits)}")
                bits = (bits["w_bits"], bits["a_bits"])
            if not isinstance(bits, (list, tuple)) or len(bits) != 2:
                raise ValueError(f"layer_bits[{name!r}] must be (w_bits, a_bits), got {bits!r}")
            items.append((name, *bits))
    else:
        items = [tuple(item) if isinstance(item, (list, tuple)) else item for item in value]
    triples = {}
    for item in items:
        if not isinstance(item, tuple) or len(item) != 3 or not isinstance(item[0], str) or not item[0]:
            raise ValueError(f"layer_bits entries are (layer name, w_bits, a_bits), got {item!r}")
        name, w_bits, a_bits = item
        for label, bits in (("w_bits", w_bits), ("a_bits", a_bits)):
            if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
                raise ValueError(f"layer_bits[{name!r}] {label} must be an integer in {MIN_BITS}..{MAX_BITS}, "
                                 f"got {bits!r}")
        if name in triples:
            raise ValueError(f"layer_bits names {name!r} twice")
        triples[name] = (name, w_bits, a_bits)
    return tuple(sorted(triples.values()))
