"""Reading pybind11 binding sources (C++) for extract_surface.py: comments, the preprocessor's EXPORT_ALL_BINDINGS
blocks, py::class_ / py::enum_ / py::bind_vector statements and the calls chained on them, and the enum values of
the C++ headers. A purpose-made reader for the way NVIDIA's bindings are written, not a C++ parser.
"""
import re

KEPT_CONDITIONS = {"EXPORT_ALL_BINDINGS"}
CHAIN_CALLS = {"def", "def_static", "def_property", "def_property_readonly", "def_property_static",
               "def_property_readonly_static", "def_readwrite", "def_readonly", "def_buffer", "value",
               "export_values"}


# -- C++ text handling ---------------------------------------------------------------------------------------
def strip_comments(text: str) -> str:
    """Remove // and /* */ comments, keeping string and character literals intact."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def preprocess(text: str) -> str:
    """Keep `#if EXPORT_ALL_BINDINGS` blocks, drop other `#if` blocks (and their #else parts keep the opposite)."""
    kept, stack = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("#if", "#ifdef", "#ifndef")):
            condition = stripped.split(None, 1)[1].strip() if " " in stripped else ""
            stack.append(condition in KEPT_CONDITIONS if stripped.startswith("#if ") else False)
            continue
        if stripped.startswith("#else"):
            if stack:
                stack[-1] = not stack[-1]
            continue
        if stripped.startswith("#endif"):
            if stack:
                stack.pop()
            continue
        if stripped.startswith("#"):
            continue
        if all(stack):
            kept.append(line)
    return "\n".join(kept)


def skip_string(text: str, i: int) -> int:
    quote = text[i]
    j = i + 1
    while j < len(text) and text[j] != quote:
        j += 2 if text[j] == "\\" else 1
    return j + 1


def matching(text: str, i: int) -> int:
    """Index just past the bracket closing the one at text[i] ((, {, [ or <, strings skipped)."""
    pairs = {"(": ")", "{": "}", "[": "]", "<": ">"}
    stack = [pairs[text[i]]]
    j = i + 1
    while j < len(text) and stack:
        c = text[j]
        if c in "\"'":
            j = skip_string(text, j)
            continue
        if c in "({[" or (c == "<" and stack[-1] == ">"):
            stack.append(pairs[c])
        elif c == stack[-1]:
            stack.pop()
        j += 1
    return j


def split_top(args: str) -> list[str]:
    """Split an argument list at commas outside (), {}, [] and template <> (only counted after a `<` that follows
    an identifier, so comparisons inside lambdas, which sit in braces anyway, do not confuse it)."""
    parts, depth, angle, start, i = [], 0, 0, 0, len(args)
    i = 0
    while i < len(args):
        c = args[i]
        if c in "\"'":
            i = skip_string(args, i)
            continue
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        elif c == "<" and depth == 0 and i > 0 and (args[i - 1].isalnum() or args[i - 1] in "_:"):
            angle += 1
        elif c == ">" and depth == 0 and angle > 0 and args[i - 1] != "-":
            angle -= 1
        elif c == "," and depth == 0 and angle == 0:
            parts.append(args[start:i].strip())
            start = i + 1
        i += 1
    tail = args[start:].strip()
    if tail:
        parts.append(tail)
    return parts


STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$')
NAMED_ARG = re.compile(r'^"(\w+)"_a(\s*=.*)?$', re.S)
PY_ARG = re.compile(r'^py::arg\("(\w+)"\)(\s*=.*)?$', re.S)


def keyword_args(parts: list[str]) -> list[dict] | None:
    """[{name, default}] from `"x"_a [= v]` / `py::arg("x") [= v]` arguments; None when none is named."""
    named = []
    for part in parts:
        match = NAMED_ARG.match(part) or PY_ARG.match(part)
        if match:
            named.append({"name": match.group(1), "default": bool(match.group(2))})
    return named or None


def init_arity(callable_text: str) -> list[dict] | None:
    """py::init<A, B>() without names: pybind11 calls the arguments arg0, arg1, ..."""
    match = re.match(r"py::init<(.*)>\(\)$", callable_text.strip(), re.S)
    if not match:
        return [] if callable_text.strip() == "py::init<>()" else None
    types = split_top(match.group(1))
    return [{"name": f"arg{i}", "default": False} for i in range(len(types))]


# -- enum values from the C++ headers ------------------------------------------------------------------------
HEADER_ENUM = re.compile(r"\benum\s+(?:class\s+)?(\w+)\s*(?::\s*[\w:]+\s*)?\{")


def header_enum_values(text: str) -> dict[str, dict[str, int]]:
    """{enum name: {C++ member: value}} for the enums a header declares (explicit values, `1 << n`, references to
    earlier members, or the previous value + 1)."""
    enums = {}
    for match in HEADER_ENUM.finditer(text):
        body_end = matching(text, match.end() - 1)
        values, previous = {}, -1
        for entry in split_top(text[match.end():body_end - 1]):
            entry = re.sub(r"\bTRT_DEPRECATED_ENUM\b", "", entry).strip()
            if not entry:
                continue
            name, _, expr = (part.strip() for part in entry.partition("="))
            if not re.match(r"^\w+$", name):
                continue
            value = previous + 1 if not expr else _evaluate(expr, values)
            if value is None:
                break
            values[name] = previous = value
        enums.setdefault(match.group(1), values)
    return enums


def _evaluate(expr: str, known: dict[str, int]) -> int | None:
    expr = expr.strip().strip("()")
    if re.fullmatch(r"-?\d+", expr):
        return int(expr)
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", expr):
        return int(expr, 16)
    shift = re.fullmatch(r"(\d+)U?\s*<<\s*(\d+)", expr)
    if shift:
        return int(shift.group(1)) << int(shift.group(2))
    return known.get(expr.split("::")[-1])


# -- binding statements ----------------------------------------------------------------------------------------
class Surface:
    def __init__(self):
        self.classes: dict[str, dict] = {}
        self.enums: dict[str, dict] = {}
        self.functions: dict[str, list] = {}
        self.attributes: dict[str, str] = {}
        self.cpp_names: dict[str, str] = {}     # C++ type -> Python qualified name
        self.variables: dict[str, str] = {}     # C++ variable holding a binding -> Python qualified name
        self.pending_bases: dict[str, list[str]] = {}
        self.header_enums: dict[str, dict[str, int]] = {}

    def add_class(self, qualname: str, template_args: list[str]):
        self.cpp_names[template_args[0].split("::")[-1]] = qualname
        self.classes.setdefault(qualname, {"bases": [], "methods": {}, "static_methods": {}, "properties": {}})
        self.pending_bases[qualname] = template_args[1:]

    def add_enum(self, qualname: str, template_args: list[str]):
        self.cpp_names[template_args[0].split("::")[-1]] = qualname
        self.enums.setdefault(qualname, {"members": [], "values": {}, "export_values": False, "arithmetic": False})

    def apply_call(self, qualname: str, call: str, args: list[str]):
        if qualname in self.enums:
            enum = self.enums[qualname]
            if call == "value":
                name = STRING.match(args[0]).group(1)
                if name not in enum["members"]:
                    enum["members"].append(name)
                    cpp = args[1].split("::") if len(args) > 1 else []
                    enum["values"][name] = self.header_enums.get(cpp[-2], {}).get(cpp[-1]) if len(cpp) >= 2 else None
            elif call == "export_values":
                enum["export_values"] = True
            elif call == "def":
                self._method(self.classes.setdefault(qualname + ".__enum_methods__", {
                    "bases": [], "methods": {}, "static_methods": {}, "properties": {}}), args)
            return
        cls = self.classes[qualname]
        if call in ("def", "def_static"):
            self._method(cls, args, static=call == "def_static")
        elif call.startswith("def_property") or call in ("def_readwrite", "def_readonly"):
            name = STRING.match(args[0]).group(1)
            readonly = "readonly" in call or (call == "def_property" and len(args) > 2 and args[2] == "nullptr")
            writeonly = call == "def_property" and len(args) > 1 and args[1] == "nullptr"
            cls["properties"][name] = {"readonly": readonly, "writeonly": writeonly,
                                       "static": call.endswith("_static")}
        elif call == "def_buffer":
            cls["buffer_protocol"] = True

    def _method(self, cls: dict, args: list[str], static: bool = False):
        first = args[0]
        if first.startswith("py::init"):
            name, signature = "__init__", keyword_args(args[1:])
            if signature is None:
                signature = init_arity(first)
        else:
            match = STRING.match(first)
            if not match:
                return
            name, signature = match.group(1), keyword_args(args[1:])
        table = cls["static_methods" if static else "methods"]
        overloads = table.setdefault(name, [])
        if signature not in overloads:
            overloads.append(signature)

    def resolve_bases(self):
        for qualname, template_args in self.pending_bases.items():
            for arg in template_args:
                base = self.cpp_names.get(arg.strip().split("::")[-1])
                if base and base in self.classes and base != qualname:
                    self.classes[qualname]["bases"].append(base)

    def settle_enum_values(self):
        """An enum whose members do not all resolve in the headers (the ONNX parser's, whose header is in a
        submodule) takes pybind11-independent declaration order: C++ enums without explicit values count up."""
        for enum in self.enums.values():
            if any(value is None for value in enum["values"].values()):
                enum["values"] = {name: i for i, name in enumerate(enum["members"])}
                enum["values_from"] = "declaration order"
            else:
                enum["values_from"] = "headers"

    def as_dict(self) -> dict:
        return {"classes": dict(sorted(self.classes.items())), "enums": dict(sorted(self.enums.items())),
                "functions": dict(sorted(self.functions.items())), "attributes": dict(sorted(self.attributes.items()))}


BINDING = re.compile(r"py::(class_|enum_|bind_vector)\s*<")


def chained_calls(text: str, i: int) -> tuple[list[tuple[str, list[str]]], int]:
    """The `.name(args)` calls chained from position i up to the statement's end; returns them and the end."""
    calls = []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text) or text[i] != ".":
            break
        match = re.match(r"\.(\w+)\s*(<[^()]*>)?\s*\(", text[i:])
        if not match:
            break
        open_at = i + match.end() - 1
        close = matching(text, open_at)
        calls.append((match.group(1), split_top(text[open_at + 1:close - 1])))
        i = close
    return calls, i


def parse_bindings(text: str, surface: Surface) -> None:
    """Everything a binding source declares: classes and enums with their chained calls, calls continuing a named
    binding, module functions and module attributes."""
    for match in BINDING.finditer(text):
        _parse_binding(text, match, surface)
    # statements continuing a named binding: `baseLoggerBinding.def(...)...;`
    for variable, qualname in surface.variables.items():
        for match in re.finditer(rf"\b{re.escape(variable)}\s*(?=\.)", text):
            _apply_chained_calls(text, match.end(), qualname, surface)
    for match in re.finditer(r"\bm\.def\s*\(", text):
        close = matching(text, match.end() - 1)
        args = split_top(text[match.end():close - 1])
        name = STRING.match(args[0])
        if name:
            overloads = surface.functions.setdefault(name.group(1), [])
            signature = keyword_args(args[1:])
            if signature not in overloads:
                overloads.append(signature)
    for match in re.finditer(r'\bm\.attr\(\s*"(\w+)"\s*\)\s*=\s*([^;]+);', text):
        value = match.group(2).strip()
        enum_value = re.match(r"(\w+)::k(\w+)$", value)
        surface.attributes[match.group(1)] = (f"{surface.cpp_names.get(enum_value.group(1), enum_value.group(1))}."
                                              f"{enum_value.group(2)}") if enum_value else value


def _apply_chained_calls(text: str, start: int, qualname: str, surface: Surface) -> None:
    calls, _ = chained_calls(text, start)
    for call, call_args in calls:
        if call in CHAIN_CALLS:
            surface.apply_call(qualname, call, call_args)


def _parse_binding(text: str, match: re.Match, surface: Surface) -> None:
    """One `py::class_<...>` / `py::enum_<...>` / `py::bind_vector<...>` binding: constructed in place
    (`py::class_<T>(m, "T")`) or into a named variable (`py::class_<T> binding(m, "T")`), then its chained calls."""
    kind = match.group(1)
    template_end = matching(text, match.end() - 1)
    template_args = split_top(text[match.end():template_end - 1])
    rest = text[template_end:]
    declared = re.match(r"\s*(\w+)\s*([({])", rest)
    constructed = re.match(r"\s*\(", rest)
    if not constructed and not declared:
        return
    opener = constructed or declared
    open_at = template_end + opener.end() - 1
    variable = None if constructed else declared.group(1)
    close = matching(text, open_at)
    args = split_top(text[open_at + 1:close - 1])
    if len(args) < 2 or not STRING.match(args[1]):
        return
    parent = None if args[0] == "m" else surface.variables.get(args[0])
    name = STRING.match(args[1]).group(1)
    qualname = f"{parent}.{name}" if parent else name
    if kind == "enum_":
        surface.add_enum(qualname, template_args)
        surface.enums[qualname]["arithmetic"] = any("arithmetic" in a for a in args[2:])
    else:
        surface.add_class(qualname, template_args)
        if kind == "bind_vector":
            surface.classes[qualname]["bound_vector"] = True
        if any("buffer_protocol" in a for a in args[2:]):
            surface.classes[qualname]["buffer_protocol"] = True
    if variable:
        surface.variables[variable] = qualname
    _apply_chained_calls(text, close, qualname, surface)
