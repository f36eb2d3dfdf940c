"""The stand-in's build side: optimization profiles, the progress monitor, networks, the ONNX parser, the builder
config and the builder. See api.py."""
from .binding import Strict, buffer, checked_call, int_sequence, member_of, setter_error
from .core import Context, ILogger, ITimingCache, _host_memory, _log, _timing_cache
from .plan import Plan, parse_onnx, read_timing_cache


class IOptimizationProfile(Strict):
    def __init__(self, ctx: Context):
        self._ctx, self._shapes = ctx, {}

    @checked_call
    def set_shape(self, input: str, min: int_sequence, opt: int_sequence, max: int_sequence):
        shapes = [list(min), list(opt), list(max)]
        if any(len(s) != len(shapes[0]) for s in shapes) or any(
                not a <= b <= c for a, b, c in zip(*shapes)):
            raise RuntimeError("Shape provided for min is inconsistent with other shapes.")
        self._shapes[input] = shapes

    @checked_call
    def get_shape(self, input: str):
        return [self._ctx.classes["Dims"](s) for s in self._shapes.get(input, [])]

    def __bool__(self):
        return bool(self._shapes)


class IProgressMonitor(Strict):
    @checked_call
    def __init__(self):
        pass

    @checked_call
    def phase_start(self, phase_name: str, parent_phase: (str, type(None)), num_steps: int):
        raise RuntimeError('Tried to call pure virtual function "IProgressMonitor::phase_start"')

    @checked_call
    def step_complete(self, phase_name: str, step: int):
        raise RuntimeError('Tried to call pure virtual function "IProgressMonitor::step_complete"')

    @checked_call
    def phase_finish(self, phase_name: str):
        raise RuntimeError('Tried to call pure virtual function "IProgressMonitor::phase_finish"')


class INetworkDefinition(Strict):
    def __init__(self, ctx: Context, strongly_typed: bool):
        self._ctx, self._strongly_typed, self._parsed = ctx, strongly_typed, None

    @property
    def num_inputs(self):
        return len(self._parsed.inputs) if self._parsed else 0

    @property
    def num_outputs(self):
        return len([t for t in self._parsed.tensors if not t.is_input]) if self._parsed else 0


class ParserError(Strict):
    def __init__(self, node_name: str, operator: str, description: str):
        self._node, self._op, self._desc = node_name, operator, description

    @checked_call
    def desc(self):
        return self._desc

    @checked_call
    def node_name(self):
        return self._node

    @checked_call
    def node_operator(self):
        return self._op

    @checked_call
    def code(self):
        return self._ctx.enums["ErrorCode"].UNSUPPORTED_NODE

    def __str__(self):
        return f"In node -1 with name: {self._node} and operator: {self._op} (parseGraph): UNSUPPORTED_NODE: " \
               f"{self._desc}"


class OnnxParser(Strict):
    @checked_call
    def __init__(self, network: INetworkDefinition, logger: ILogger):
        self._network, self._logger, self._errors = network, logger, []

    @checked_call
    def parse_from_file(self, model: str):
        try:
            with open(model, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            error = self._ctx.classes["ParserError"]._create("", "", f"Failed to open file: {model} ({exc})")
            self._errors = [error]
            return False
        parsed, errors = parse_onnx(data)
        if parsed is None:
            self._errors = [self._ctx.classes["ParserError"]._create(*e) for e in errors]
            return False
        self._network._parsed = parsed
        return True

    @property
    def num_errors(self):
        return len(self._errors)

    @checked_call
    def get_error(self, index: int):
        return self._errors[index] if 0 <= index < len(self._errors) else None

    @checked_call
    def clear_errors(self):
        self._errors = []


class IBuilderConfig(Strict):
    def __init__(self, ctx: Context):
        self._ctx, self._flags, self._pools = ctx, set(), {}
        self._profiles, self._cache, self._monitor = [], None, None
        self._verbosity = ctx.enums["ProfilingVerbosity"].LAYER_NAMES_ONLY
        self._level = 3

    @checked_call
    def set_memory_pool_limit(self, pool: member_of("MemoryPoolType"), pool_size: int):
        self._pools[pool.name] = pool_size

    @checked_call
    def get_memory_pool_limit(self, pool: member_of("MemoryPoolType")):
        return self._pools.get(pool.name, 0)

    @checked_call
    def set_flag(self, flag: member_of("BuilderFlag")):
        self._flags.add(flag.name)

    @checked_call
    def clear_flag(self, flag: member_of("BuilderFlag")):
        self._flags.discard(flag.name)

    @checked_call
    def get_flag(self, flag: member_of("BuilderFlag")):
        return flag.name in self._flags

    @property
    def profiling_verbosity(self):
        return self._verbosity

    @profiling_verbosity.setter
    def profiling_verbosity(self, value):
        if not member_of("ProfilingVerbosity")(value):
            raise setter_error("IBuilderConfig", value)
        self._verbosity = value

    @property
    def builder_optimization_level(self):
        return self._level

    @builder_optimization_level.setter
    def builder_optimization_level(self, value):
        if not isinstance(value, int):
            raise setter_error("IBuilderConfig", value)
        self._level = value

    @property
    def progress_monitor(self):
        return self._monitor

    @progress_monitor.setter
    def progress_monitor(self, value):
        self._monitor = value

    @property
    def num_optimization_profiles(self):
        return len(self._profiles)

    @checked_call
    def add_optimization_profile(self, profile: IOptimizationProfile):
        if "add_optimization_profile" in self._ctx.faults or not profile:
            return -1
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @checked_call
    def create_timing_cache(self, serialized_timing_cache: buffer):
        data = bytes(memoryview(serialized_timing_cache))
        if not data:
            return _timing_cache(self._ctx)
        origin = read_timing_cache(data)
        if origin is None or "create_timing_cache" in self._ctx.faults:
            return None  # TensorRT logs "Error Code 1: Serialization (... deserialize the timing cache)"
        return _timing_cache(self._ctx, origin)

    @checked_call
    def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool):
        current = {"tensorrt": self._ctx.version, "gpu": self._ctx.gpu.name}
        if cache._origin != current and not ignore_mismatch:
            return False
        self._cache = cache
        return True

    @checked_call
    def get_timing_cache(self):
        return self._cache


class Builder(Strict):
    @checked_call
    def __init__(self, logger: ILogger):
        self._logger = logger

    @checked_call
    def create_network(self, flags: int = 0):
        enum = self._ctx.enums["NetworkDefinitionCreationFlag"]
        known = 0
        for member in enum.__members__.values():
            known |= 1 << member.value
        if flags & ~known:
            _log(self._logger, "ERROR", f"Invalid network creation flags {flags}")
            return None
        strong = self._ctx.major >= 11 or bool(flags & (1 << enum.STRONGLY_TYPED.value))
        return self._ctx.classes["INetworkDefinition"]._create(self._ctx, strong)

    @checked_call
    def create_builder_config(self):
        return self._ctx.classes["IBuilderConfig"]._create(self._ctx)

    @checked_call
    def create_optimization_profile(self):
        return self._ctx.classes["IOptimizationProfile"]._create(self._ctx)

    @property
    def platform_has_fast_int8(self):
        return True

    @checked_call
    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig):
        self._ctx.calls.append(("build", sorted(config._flags), network._strongly_typed))
        parsed = network._parsed
        if parsed is None:
            _log(self._logger, "ERROR", "Network must have at least one output")
            return None
        precision_flags = {"FP16", "BF16", "INT8", "FP8", "INT4", "FP4"} & config._flags
        if network._strongly_typed and precision_flags:
            _log(self._logger, "ERROR", f"Error Code 3: API Usage Error (BuilderFlag {sorted(precision_flags)} "
                                        f"cannot be used with a strongly typed network)")
            return None
        profile = {}
        for tensor in parsed.inputs:
            shapes = next((p._shapes[tensor.name] for p in config._profiles if tensor.name in p._shapes), None)
            if shapes is None:
                if any(d < 0 for d in tensor.shape):
                    _log(self._logger, "ERROR", f"Error Code 4: API Usage Error (Network has dynamic or shape "
                                                f"inputs, but no optimization profile has been defined for "
                                                f"{tensor.name}.)")
                    return None
                shapes = [tensor.shape] * 3
            if any(len(s) != len(tensor.shape) or any(d >= 0 and v != d for v, d in zip(s, tensor.shape))
                   for s in shapes):
                _log(self._logger, "ERROR", f"Error Code 4: API Usage Error ({tensor.name}: profile dimensions "
                                            f"{shapes} do not match the network's {tensor.shape})")
                return None
            profile[tensor.name] = shapes
        if not self._run_monitor(config._monitor):
            _log(self._logger, "ERROR", "Error Code 1: Internal Error (Build was cancelled by the progress monitor)")
            return None
        plan = Plan(network=parsed, profile=profile, strongly_typed=network._strongly_typed,
                    flags=sorted(config._flags), tensorrt_version=self._ctx.version,
                    detailed=config._verbosity.name == "DETAILED")
        if config._cache is None:
            config._cache = _timing_cache(self._ctx)
        return _host_memory(self._ctx, plan.serialize())

    @staticmethod
    def _run_monitor(monitor) -> bool:
        if monitor is None:
            return True
        for phase, steps in (("Building engine", 2), ("Tactic selection", 3)):
            monitor.phase_start(phase, None, steps)
            monitor.phase_start(f"{phase} detail", phase, 1)
            monitor.phase_finish(f"{phase} detail")
            for step in range(steps):
                if not monitor.step_complete(phase, step):
                    return False
            monitor.phase_finish(phase)
        return True


