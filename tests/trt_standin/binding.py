"""The strict pybind11 behaviour of the stand-in: surfaces, enums, argument checking, attribute rules.

A real `tensorrt` object is a pybind11 instance: an attribute it does not have raises AttributeError, a call with
the wrong arguments raises TypeError("<name>(): incompatible function arguments. ..."), enum classes hold exactly
the members the bindings declare. The stand-in classes get the same rules from here, per TensorRT version, from
the surface extracted from that version's binding sources (surface/*.json, written by extract_surface.py).
"""
import functools
import inspect
import json
from pathlib import Path

SURFACE_DIR = Path(__file__).resolve().parent / "surface"
MODULE = "tensorrt.tensorrt"


@functools.lru_cache(maxsize=None)
def load_surface(name: str) -> dict:
    """surface/tensorrt-<name>.json as a dict (cached)."""
    return json.loads((SURFACE_DIR / f"tensorrt-{name}.json").read_text())


def class_members(surface: dict, qualname: str) -> dict:
    """Every method, static method and property a class of `surface` has, its bases' included:
    {name: ("method" | "static" | "property", spec)}."""
    classes = surface["module"]["classes"]
    members: dict = {}
    pending = [qualname]
    while pending:
        cls = classes.get(pending.pop(0))
        if cls is None:
            continue
        for name, overloads in cls["methods"].items():
            members.setdefault(name, ("method", overloads))
        for name, overloads in cls["static_methods"].items():
            members.setdefault(name, ("static", overloads))
        for name, spec in cls["properties"].items():
            members.setdefault(name, ("property", spec))
        for name, source in cls.get("python_attributes", {}).items():
            members.setdefault(name, ("attribute", source))
        pending.extend(cls["bases"])
    return members


# -- argument checking ---------------------------------------------------------------------------------------------
def _type_name(value) -> str:
    cls = type(value)
    module = getattr(cls, "__pybind_module__", None) or cls.__module__
    return f"{module}.{cls.__qualname__}" if module != "builtins" else cls.__qualname__


def setter_error(owner: str, value) -> TypeError:
    return TypeError(f"(): incompatible function arguments. The following argument types are supported:\n"
                     f"    1. (self: {MODULE}.{owner}, arg0: ...) -> None\n\nInvoked with: ..., {value!r}")


def incompatible(name: str, params: list[inspect.Parameter], args: tuple, kwargs: dict) -> TypeError:
    """The TypeError pybind11 raises when no overload accepts the arguments (same first line, same layout)."""
    shown = ", ".join(f"{p.name}: {_annotation_name(p.annotation)}" + (" = ..." if p.default is not p.empty else "")
                      for p in params)
    invoked = ", ".join(repr(a) for a in args)
    if kwargs:
        invoked += "; kwargs: " + ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return TypeError(f"{name}(): incompatible function arguments. The following argument types are supported:\n"
                     f"    1. ({shown})\n\nInvoked with: {invoked}")


def _annotation_name(annotation) -> str:
    if annotation is inspect.Parameter.empty:
        return "object"
    if isinstance(annotation, tuple):
        return " | ".join(_annotation_name(a) for a in annotation)
    return getattr(annotation, "__qualname__", str(annotation))


def _accepts(annotation, value) -> bool:
    """pybind11's argument conversion, as far as the stand-in needs it: exact classes (no None for references),
    bool only for bool, int for integers (bool is an int to pybind11 too), float takes int."""
    if annotation is inspect.Parameter.empty:
        return True
    if isinstance(annotation, tuple):
        return any(_accepts(a, value) for a in annotation)
    if callable(annotation) and getattr(annotation, "__standin_check__", False):
        return annotation(value)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int)
    return isinstance(value, annotation)


def checked_call(function):
    """Wrap a stand-in method: arity, keyword names and argument types checked as pybind11 checks them."""
    signature = inspect.signature(function)
    params = list(signature.parameters.values())

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            raise incompatible(function.__name__, params, args, kwargs) from None
        for name, value in bound.arguments.items():
            if name != "self" and not _accepts(signature.parameters[name].annotation, value):
                raise incompatible(function.__name__, params, args, kwargs)
        return function(*args, **kwargs)

    wrapper.__standin_signature__ = [p for p in params if p.name != "self"]
    return wrapper


def predicate(check):
    """An annotation that is a test on the value (e.g. a sequence of ints for a shape)."""
    check.__standin_check__ = True
    return check


@predicate
def int_sequence(value) -> bool:
    from .api import Dims  # a Dims converts implicitly, as do lists and tuples of ints

    if isinstance(value, Dims):
        return True
    return isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def member_of(enum_qualname: str):
    """An annotation accepting the members of one enum (pybind11 converts nothing else to an enum argument)."""

    @predicate
    def check(value) -> bool:
        return isinstance(value, EnumMember) and value._enum.__qualname__ == enum_qualname

    check.__qualname__ = f"tensorrt.tensorrt.{enum_qualname}"
    return check


@predicate
def buffer(value) -> bool:
    try:
        memoryview(value)
    except TypeError:
        return False
    return True


# -- classes ------------------------------------------------------------------------------------------------------
class StrictMeta(type):
    """Class-level strictness: a missing class attribute (an enum member a version lacks, say) is an AttributeError
    worded as pybind11's, and a class the bindings give no constructor cannot be constructed from Python."""

    def __getattr__(cls, name):
        raise AttributeError(f"type object '{MODULE}.{cls.__name__}' has no attribute '{name}'")

    def __call__(cls, *args, **kwargs):
        members = inspect.getattr_static(cls, "_surface_members", None)
        if members is not None and "__init__" not in members:
            raise TypeError(f"{MODULE}.{cls.__name__}: No constructor defined!")
        return super().__call__(*args, **kwargs)

    def _create(cls, *args):
        """Construct as the C++ side does (TensorRT returns these objects; Python cannot make them)."""
        instance = cls.__new__(cls, *args) if issubclass(cls, bytearray) else cls.__new__(cls)
        instance.__init__(*args)
        return instance


class Strict(metaclass=StrictMeta):
    """Base of the stand-in classes. Public attributes come only from the class (methods, properties); setting an
    attribute that is not a writable property fails as on a pybind11 object. Names of the real surface the
    stand-in does not implement raise NotImplementedError, so a test cannot pass by not noticing them."""

    __pybind_module__ = MODULE
    _surface_members: dict = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in type(self)._surface_members:
            raise NotImplementedError(f"the TensorRT stand-in does not implement {type(self).__name__}.{name}, which "
                                      f"TensorRT has: add it to tests/trt_standin/api.py")
        raise AttributeError(f"'{MODULE}.{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name, value):
        if name.startswith("_") or not type(self).__dict__.get("_standin_final", False):
            # private state, or an instance of a Python subclass (those have a __dict__, as on pybind11 types)
            object.__setattr__(self, name, value)
            return
        attribute = inspect.getattr_static(type(self), name, None)
        if isinstance(attribute, property):
            if attribute.fset is None:
                raise AttributeError(f"property of '{MODULE}.{type(self).__name__}' object has no setter")
            attribute.__set__(self, value)
            return
        raise AttributeError(f"'{MODULE}.{type(self).__name__}' object has no attribute '{name}'")

    def __repr__(self):
        return f"<{MODULE}.{type(self).__name__} object at {id(self):#x}>"


class Absent:
    """Descriptor for a member the stand-in implements but this TensorRT version does not have."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner):
        if instance is None:
            raise AttributeError(f"type object '{MODULE}.{owner.__name__}' has no attribute '{self.name}'")
        raise AttributeError(f"'{MODULE}.{owner.__name__}' object has no attribute '{self.name}'")


def public_members(cls) -> dict:
    """Public names a stand-in class defines (its bases' included, Strict's excluded)."""
    names = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, Strict) or klass.__module__ == "builtins":
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") or name in ("__init__", "__len__", "__getitem__", "__bool__", "__eq__"):
                names[name] = value
    return names


def for_version(cls, surface: dict, qualname: str | None = None):
    """A subclass of stand-in class `cls` exposing only what `surface` (one TensorRT version) has."""
    qualname = qualname or cls.__name__
    members = class_members(surface, qualname)
    namespace = {"_surface_members": members, "__module__": cls.__module__, "__qualname__": cls.__name__,
                 "_standin_final": True}
    for name in set(public_members(cls)) | {n for n in dir(cls) if not n.startswith("_")}:  # builtin bases too
        if not name.startswith("__") and name not in members:
            namespace[name] = Absent()
    return type(cls.__name__, (cls,), namespace)


# -- enums ----------------------------------------------------------------------------------------------------------
class EnumMember:
    """A pybind11 enum value: .name, .value, int(), hashable, equal to itself only."""

    __slots__ = ("_enum", "name", "value")

    def __init__(self, enum, name: str, value: int):
        self._enum, self.name, self.value = enum, name, value

    def __int__(self):
        return self.value

    def __index__(self):
        return self.value

    def __hash__(self):
        return hash((self._enum.__name__, self.value))

    def __eq__(self, other):
        return isinstance(other, EnumMember) and other._enum is self._enum and other.value == self.value

    def __repr__(self):
        return f"<{self._enum.__name__}.{self.name}: {self.value}>"

    def __str__(self):
        return f"{self._enum.__name__}.{self.name}"


def make_enum(qualname: str, spec: dict):
    """An enum class with exactly the members `spec` (one surface entry) lists, at their C++ values."""
    name = qualname.rsplit(".", 1)[-1]
    enum = StrictMeta(name, (), {"__pybind_module__": MODULE, "__qualname__": qualname})
    members = {}
    for member in spec["members"]:
        members[member] = EnumMember(enum, member, spec["values"][member])
        type.__setattr__(enum, member, members[member])
    type.__setattr__(enum, "__members__", dict(members))
    return enum
