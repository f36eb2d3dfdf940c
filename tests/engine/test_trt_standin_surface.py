"""The TensorRT stand-in against TensorRT's own binding sources: every name, keyword and enum member it offers exists
in the surface extracted from NVIDIA/TensorRT (10.8.0 and 11.1), so a misspelt name in the stand-in cannot hide one
in the code; and it is strict the way pybind11 is."""
import inspect
import json

import pytest
from trt_standin import GENERATIONS, api, make_tensorrt, surface_for
from trt_standin.binding import Absent, class_members, public_members
from trt_standin.cpp_bindings import Surface, header_enum_values, parse_bindings, preprocess, strip_comments


def call_forms(params: list[inspect.Parameter]) -> list[list[str]]:
    """The argument-name lists a signature accepts positionally: its required names, then each optional prefix."""
    names = [p.name for p in params]
    required = sum(1 for p in params if p.default is p.empty)
    return [names[:k] for k in range(required, len(names) + 1)]


def overload_accepts(overload: list[dict], form: list[str]) -> bool:
    names = [arg["name"] for arg in overload]
    return names[:len(form)] == form and all(arg["default"] for arg in overload[len(form):])


@pytest.mark.parametrize("generation", sorted(GENERATIONS))
def test_every_standin_member_is_in_the_binding_sources(generation):
    surface = surface_for(generation)
    for cls in api.CLASSES:
        if cls.__name__ not in surface["module"]["classes"]:
            continue
        members = class_members(surface, cls.__name__)
        version_cls = make_tensorrt(generation).__standin__.classes[cls.__name__]
        for name, value in public_members(cls).items():
            if getattr(value, "__standin_blocker__", False) or isinstance(vars(version_cls).get(name), Absent):
                continue
            if name == "__init__" and name not in members:  # TensorRT creates these; Python cannot
                with pytest.raises(TypeError, match="No constructor defined"):
                    version_cls()
                continue
            assert name in members, f"TensorRT {generation}: {cls.__name__}.{name} is not in the bindings"
            kind, spec = members[name]
            if isinstance(value, property):
                assert kind == "property", (cls.__name__, name, kind)
                assert value.fset is None or not spec["readonly"], f"{cls.__name__}.{name} is read-only in TensorRT"
                continue
            assert kind == "method", (cls.__name__, name, kind)
            params = getattr(value, "__standin_signature__", None)
            if params is None or spec == [None]:
                # the binding names no arguments: a C++ method without parameters, or a protocol dunder
                assert name.startswith("__") or params == [], f"{cls.__name__}.{name} takes no arguments in TensorRT"
                continue
            for form in call_forms(params):
                assert any(o is not None and overload_accepts(o, form) for o in spec), \
                    f"TensorRT {generation}: {cls.__name__}.{name}({', '.join(form)}) matches no overload {spec}"


@pytest.mark.parametrize("generation", sorted(GENERATIONS))
def test_enums_are_exactly_the_bindings_members_at_their_cpp_values(generation):
    trt = make_tensorrt(generation)
    surface = surface_for(generation)["module"]
    for qualname, spec in surface["enums"].items():
        enum = trt.__standin__.enums[qualname]
        assert list(enum.__members__) == spec["members"]
        assert {name: int(member) for name, member in enum.__members__.items()} == spec["values"]
    with pytest.raises(AttributeError, match="has no attribute 'FP17'"):
        _ = trt.BuilderFlag.FP17


def test_what_tensorrt_11_removed_is_absent_and_10_has_it():
    trt10, trt11 = make_tensorrt("10"), make_tensorrt("11")
    for flag in ("FP16", "INT8", "BF16", "FP8", "INT4", "OBEY_PRECISION_CONSTRAINTS"):
        assert getattr(trt10.BuilderFlag, flag) is not None
        with pytest.raises(AttributeError):
            getattr(trt11.BuilderFlag, flag)
    assert not hasattr(trt11.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH")
    assert int(trt10.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 1  # bit 1 in 10 ...
    assert int(trt11.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 0  # ... bit 0, ignored (always strong), in 11
    calibrators = ("IInt8Calibrator", "IInt8EntropyCalibrator2", "IInt8MinMaxCalibrator")
    classes10, classes11 = (surface_for(g)["module"]["classes"] for g in ("10", "11"))
    assert all(name in classes10 for name in calibrators) and not any(name in classes11 for name in calibrators)
    for name in ("int8_calibrator", "quantization_flags"):
        assert name in classes10["IBuilderConfig"]["properties"]
        assert name not in classes11["IBuilderConfig"]["properties"]
    with pytest.raises(AttributeError, match="has no attribute 'IInt8EntropyCalibrator2'"):
        _ = trt11.IInt8EntropyCalibrator2


def test_the_surfaces_record_their_source():
    for generation, ref in (("10", "v10.8.0"), ("11", "v11.1")):
        surface = surface_for(generation)
        assert surface["source"]["ref"] == ref and len(surface["source"]["commit"]) == 40
        assert "python/src/infer/pyCore.cpp" in surface["source"]["files"]
        assert "python/src/parsers/pyOnnx.cpp" in surface["source"]["files"]
    assert surface_for("10")["version"] == "10.8.0.43"  # the TensorRT of the image's base (NGC PyTorch 25.01)


@pytest.mark.parametrize("generation", sorted(GENERATIONS))
def test_strict_like_pybind11(generation):
    trt = make_tensorrt(generation)
    logger = trt.Logger(trt.Logger.WARNING)
    config = trt.Builder(logger).create_builder_config()
    with pytest.raises(AttributeError, match="'tensorrt.tensorrt.IBuilderConfig' object has no attribute 'timing'"):
        _ = config.timing
    with pytest.raises(AttributeError):
        config.max_workspace_size = 1 << 30  # removed in TensorRT 10: a pybind11 object takes no new attributes
    with pytest.raises(AttributeError, match="no setter"):
        config.num_optimization_profiles = 2
    with pytest.raises(TypeError, match=r"^set_timing_cache\(\): incompatible function arguments"):
        config.set_timing_cache(None, ignore_mismatch=False)  # a reference argument takes no None
    with pytest.raises(TypeError, match=r"^set_memory_pool_limit\(\): incompatible function arguments"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, size=1)  # the keyword is pool_size
    with pytest.raises(TypeError, match=r"^set_flag\(\): incompatible"):
        config.set_flag(0)  # an int is not a BuilderFlag
    with pytest.raises(TypeError, match="No constructor defined"):
        trt.ICudaEngine()
    with pytest.raises(AttributeError, match="module 'tensorrt' has no attribute 'volumes'"):
        _ = trt.volumes
    with pytest.raises(NotImplementedError, match="does not implement IBuilderConfig.get_tactic_sources"):
        config.get_tactic_sources()  # real, but not stood in: a test cannot pass by not noticing it
    assert trt.Logger.Severity.ERROR == trt.ILogger.ERROR and trt.Logger.VERBOSE.name == "VERBOSE"


def test_extractor_reads_bindings_headers_and_preprocessor():
    """A hand-written binding excerpt with the constructs NVIDIA's sources use, and what must come out of it."""
    header = "enum class Flag : int32_t { kA = 0, kB TRT_DEPRECATED_ENUM = 3, kC, kD = kA };"
    source = '''
        // a comment with "Fake"_a in it
        py::class_<ILogger, PyLogger> base{m, "ILogger", py::module_local()};
        py::enum_<ILogger::Severity>(base, "Severity", py::arithmetic()).value("ERROR", ILogger::Severity::kERROR)
            .export_values();
        base.def(py::init<>()).def("log", &ILogger::log, "severity"_a, "msg"_a, Doc::log);
        py::enum_<Flag>(m, "Flag", py::arithmetic{}).value("A", Flag::kA).value("C", Flag::kC);
        py::class_<IBuilderConfig>(m, "IBuilderConfig")
            .def("set_timing_cache", &IBuilderConfig::setTimingCache, "cache"_a, "ignore_mismatch"_a,
                Doc::set, py::keep_alive<1, 2>{})
            .def("create_execution_context", &X::y, py::arg("strategy") = Strategy::kSTATIC)
            .def_property_readonly("num_optimization_profiles", &IBuilderConfig::getNbOptimizationProfiles)
            .def_property("device_memory", nullptr, &lambdas::set_memory);
        #if ENABLE_INETWORK_SERIALIZE
        py::class_<Hidden>(m, "Hidden");
        #endif
        m.attr("float32") = DataType::kFLOAT;
    '''
    surface = Surface()
    surface.header_enums.update(header_enum_values(strip_comments(header)))
    parse_bindings(preprocess(strip_comments(source)), surface)
    surface.resolve_bases()
    surface.settle_enum_values()
    result = json.loads(json.dumps(surface.as_dict()))
    assert surface.header_enums["Flag"] == {"kA": 0, "kB": 3, "kC": 4, "kD": 0}
    assert result["enums"]["Flag"]["values"] == {"A": 0, "C": 4}
    assert result["enums"]["ILogger.Severity"]["export_values"] is True
    config = result["classes"]["IBuilderConfig"]
    assert config["methods"]["set_timing_cache"] == [[{"name": "cache", "default": False},
                                                       {"name": "ignore_mismatch", "default": False}]]
    assert config["methods"]["create_execution_context"] == [[{"name": "strategy", "default": True}]]
    assert config["properties"]["num_optimization_profiles"]["readonly"] is True
    assert config["properties"]["device_memory"]["writeonly"] is True
    assert result["classes"]["ILogger"]["methods"]["__init__"] == [[]]
    assert "Hidden" not in result["classes"] and "Fake" not in json.dumps(result)
