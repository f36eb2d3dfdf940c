"""Which class a model yaml's module name means, and how the yaml parser wires its channels (its role).

Each model family owns one ModuleRegistry: YOLOv5's "Conv" and YOLOv7's "Conv" are different classes (YOLOv7's
takes the activation as its 6th argument), so names are looked up in the family's registry only.
Roles, as the yaml parsers of yolov5/yolov7 treat module types:
  channels         args start (c_out, ...): c_in is prepended, c_out scaled by width_multiple (unless it is the
                   head's raw output count)
  channels_repeat  as channels, and the yaml's repeat count is consumed by the module itself (depth_multiple)
  concat           output channels = sum of the inputs'
  shortcut         output channels = the first input's
  space_to_depth   output channels = 4 x the input's
  batchnorm        the single argument is the input's channel count
  head             the detection head: the input channel list is appended to its args
  same             output channels = the input's (pools, upsampling)
"""
from dataclasses import dataclass
from typing import Callable

from torch import nn

ROLES = ("channels", "channels_repeat", "concat", "shortcut", "space_to_depth", "batchnorm", "head", "same")


@dataclass(frozen=True)
class ModuleType:
    cls: type[nn.Module]
    role: str


class ModuleRegistry:
    """Yaml module name -> (class, role) for one family."""

    def __init__(self, family: str):
        self.family = family
        self._types: dict[str, ModuleType] = {}

    def add(self, name: str, cls: type[nn.Module], role: str = "same") -> None:
        if role not in ROLES:
            raise ValueError(f"unknown module role {role!r}; choose one of {ROLES}")
        self._types[name] = ModuleType(cls, role)

    def register(self, name: str, role: str = "same") -> Callable[[type[nn.Module]], type[nn.Module]]:
        """Class decorator: `@REGISTRY.register("Conv", "channels")`."""
        def decorator(cls: type[nn.Module]) -> type[nn.Module]:
            self.add(name, cls, role)
            return cls

        return decorator

    @staticmethod
    def canonical(name: str) -> str:
        return name.replace("torch.nn.", "nn.")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) in self._types

    def __getitem__(self, name: str) -> ModuleType:
        return self._types[self.canonical(name)]

    def names(self) -> list[str]:
        return sorted(self._types)

    def class_names(self, role: str) -> tuple[str, ...]:
        """Python class names of the registered types with `role` (e.g. the heads, for the float-head rule)."""
        return tuple(sorted({t.cls.__name__ for t in self._types.values() if t.role == role}))
