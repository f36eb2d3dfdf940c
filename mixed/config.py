"""MixedConfig: what `search_mixed` looks for, validated on construction (ValueError naming the value)."""
import math
from dataclasses import dataclass
from pathlib import Path

from calib.study import LayerStudy
from common import validate
from mixed.ordering import ORDERINGS
from sensitivity.config import VIEWS

DEFAULT_OUT_DIR = Path("runs/mixed")


def _bits_pair(value, name: str) -> tuple[int, int]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be (w_bits, a_bits), got {value!r}")
    return int(value[0]), int(value[1])


@dataclass(frozen=True)
class MixedConfig(LayerStudy):
    """The shared settings of calib.study.LayerStudy (model, images, calibrator, device, proxy_images, ap_images;
    out: None = runs/mixed/<weights stem>), plus: low_bits: the widths every layer starts at; high_bits: the widths
    a raised layer gets. target_drop: the plan must reach the uniform high_bits AP minus this many AP points;
    max_share: at most this share of the layers raised (the layer budget). rank_by: the sensitivity view that orders
    the layers ("float": what keeping a layer wide recovers; "alone": what quantizing it alone costs). ranking: a
    sensitivity.json to take that order from (None: computed here, from the same calibration pass, on proxy_images
    images). ordering: "greedy" refines that order on the proxy step by step (mixed.ordering), choosing among the
    first `pool` candidates; "static" keeps it. full_curve: score every budget step, not only up to the first plan
    on target. uniform: the uniform widths scored for the Pareto plot. The folder gets mixed.json / mixed.png /
    mixed.pt.
    """

    low_bits: tuple[int, int] = (4, 4)
    high_bits: tuple[int, int] = (8, 8)
    target_drop: float = 3.0
    max_share: float = 0.25
    rank_by: str = "float"
    ranking: str | Path | None = None
    ordering: str = "greedy"
    pool: int = 16
    full_curve: bool = False
    uniform: tuple[tuple[int, int], ...] = ((8, 8), (6, 6), (4, 4))

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "low_bits", _bits_pair(self.low_bits, "low_bits"))
        set_(self, "high_bits", _bits_pair(self.high_bits, "high_bits"))
        set_(self, "uniform", tuple(_bits_pair(b, "uniform") for b in self.uniform))
        if self.high_bits[0] < self.low_bits[0] or self.high_bits[1] < self.low_bits[1] \
                or self.high_bits == self.low_bits:
            raise ValueError(f"high_bits {self.high_bits} must be wider than low_bits {self.low_bits}")
        if isinstance(self.target_drop, bool) or not isinstance(self.target_drop, (int, float)) \
                or not math.isfinite(self.target_drop) or self.target_drop < 0:
            raise ValueError(f"target_drop must be a number of AP points >= 0, got {self.target_drop!r}")
        validate.fraction(self.max_share, "max_share")
        validate.one_of(self.rank_by, VIEWS, "rank_by")
        validate.one_of(self.ordering, ORDERINGS, "ordering")
        validate.positive_int(self.pool, "pool")
        if self.ranking is not None:
            set_(self, "ranking", Path(self.ranking))
        self.validate_study(self.low_bits, DEFAULT_OUT_DIR)
        for bits in (self.high_bits, *self.uniform):
            self.calib_config(bits)  # the other widths are valid too
