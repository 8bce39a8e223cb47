"""Reading a scenario: YAML text, `--set` overrides, schema validation, reference checks.

Everything that can be wrong with user input is reported here as a `ScenarioError` holding
one line per problem, each naming the dotted path of the field (or the file and line for YAML
syntax), before anything is simulated.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ekkosim.input_file import InputFileError, read_bytes, regular_file_size
from ekkosim.net.wan import read_graphml, wan_graph
from ekkosim.scenario import checks, footprint, user_code
from ekkosim.scenario.differences import fields
from ekkosim.scheduler.priority import PriorityFunctionError
from ekkosim.schema import FAULT_KINDS, Scenario
from ekkosim.units import shown
from ekkosim.workload.trace import MAX_TRACE_BYTES, TraceError, read_trace

MAX_YAML_BYTES = 2 * 2**20  # a scenario or sweep file: 8,000 data centers take 0.4 MB, parsed in 2 s
# Values a YAML document may expand to through its aliases (`*a`), counted as if each alias
# were a copy: an alias of an alias of ... (the "billion laughs") is a few lines that expand
# to billions, which validating or printing would walk one by one.
MAX_YAML_VALUES = 1_000_000


class ScenarioError(Exception):
    """Bad user input: one message per problem, each naming where it is."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml parses 10x faster
    """A YAML loader that refuses duplicate keys instead of silently keeping the last."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (KeyError, IndexError, AttributeError, ValueError, TypeError):
            # PyYAML's own constructors fail so on an explicitly tagged value they cannot read,
            # such as `!!bool ""` or `!!timestamp x`
            what = f" {shown(node.value)}" if isinstance(node, yaml.ScalarNode) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read{what} as {node.tag.rsplit(':', 1)[-1]}", node.start_mark
            ) from None

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it beyond MAX_YAML_VALUES values. Counted over the
    node graph depth first, each node once (its expanded size remembered): time linear in the text."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, counted_children = stack.pop()
        if counted_children:
            # a child still being visited is an anchor inside itself, counted once: PyYAML refuses it later
            size = 1 + sum(sizes.get(id(child), 1) for child in _children(node))
            if size > MAX_YAML_VALUES:
                raise yaml.constructor.ConstructorError(
                    None, None, f"aliases expand this value to more than {MAX_YAML_VALUES:,} values", node.start_mark)
            sizes[id(node)] = size
            visiting.discard(id(node))
        elif id(node) not in sizes and id(node) not in visiting:
            visiting.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return node.value if isinstance(node, yaml.SequenceNode) else []


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    mapping: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (list, dict)):  # a YAML complex key (`? [a, b]`): no field has such a name
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a name, not a {'list' if isinstance(key, list) else 'mapping'}",
                key_node.start_mark,
            )
        if key in mapping:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


def _int_within_limits(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    if len(node.value) > 4000:  # Python refuses to convert integers of more than 4,300 digits
        raise yaml.constructor.ConstructorError(
            None, None, f"an integer of {len(node.value):,} characters is too large", node.start_mark
        )
    return loader.construct_yaml_int(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
# YAML 1.1 reads 1e6 and 1.5e6 (no dot, or no sign in the exponent) as strings, and a field that
# wants a number would say "got '1e6'"; read them as numbers, as YAML 1.2 does.
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _int_within_limits)


def parse_yaml(text: str | bytes, source: str) -> Any:
    """Parse YAML text; syntax errors become a ScenarioError naming `source`, line and column."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not text
        except UnicodeDecodeError as err:
            raise ScenarioError([f"{source}: not UTF-8 text (byte {err.start})"]) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.reader.ReaderError as err:  # a character YAML does not allow, such as a control character
        line = text.count("\n", 0, err.position) + 1
        column = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        raise ScenarioError([f"{source}:{line}:{column}: character {chr(err.character)!r} is not allowed in YAML"]) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ScenarioError([f"{where}: {err.problem or err.context}"]) from None
    except yaml.YAMLError as err:
        raise ScenarioError([f"{source}: {err}"]) from None
    except RecursionError:  # PyYAML recurses once per level of nesting
        raise ScenarioError([f"{source}: nested too deeply"]) from None


_PATH = re.compile(r"^[A-Za-z_][\w-]*(\[(\d+|\*)\])*(\.[A-Za-z_][\w-]*(\[(\d+|\*)\])*)*$")
_STEP = re.compile(r"([A-Za-z_][\w-]*)|\[(\d+|\*)\]")
EVERY = "*"  # `[*]`: every item of a list


def split_path(path: str) -> list[str | int]:
    """`a.b[2].c` -> ["a", "b", 2, "c"]; `a[*].c` -> ["a", "*", "c"] (every item)."""
    if not _PATH.match(path):
        raise ScenarioError([f"--set {_quoted(path)}: not a dotted path such as topology.links[2].bandwidth"])
    return [name if name else (EVERY if index == EVERY else int(index)) for name, index in _STEP.findall(path)]


def value_at(data: Any, path: str) -> Any:
    """The value at a `--set` path in scenario data (as `Scenario.model_dump` gives it); a `[*]`
    step reads the first item (for paths whose items are alike). KeyError or IndexError if absent."""
    for step in split_path(path):
        data = data[0 if step == EVERY else step]
    return data


def apply_override(data: dict, assignment: str) -> None:
    """Apply one `dotted.path[i].field=value` to raw scenario data; the value is read as YAML.
    `[*]` sets the field in every item of a list (`topology.datacenters[*].cores=12`)."""
    path, sep, text = assignment.partition("=")
    if not sep or not path:
        raise ScenarioError([f"--set {_quoted(assignment)}: expected dotted.path=value"])
    steps = split_path(path.strip())
    value = parse_yaml(text, f"--set {_quoted(path)}") if text.strip() else None
    _assign(data, steps, value, path, ())


def _quoted(text: str) -> str:
    """`text` as typed if it reads plainly on one line, else quoted (and cut if long)."""
    return text if text and len(text) <= 60 and text.isprintable() and " " not in text else shown(text)


def _assign(node: Any, steps: list, value: Any, path: str, done: tuple) -> None:
    step, rest = steps[0], steps[1:]
    here = _location((*done, step))
    if step == EVERY or isinstance(step, int):
        if not isinstance(node, list):
            raise ScenarioError([f"--set {path}: {_location(done)} is not a list"])
        if step != EVERY and step >= len(node):
            raise ScenarioError([f"--set {path}: {here} is not an existing list item"])
        for i in range(len(node)) if step == EVERY else [step]:
            if rest:
                _assign(node[i], rest, value, path, (*done, i))
            else:
                node[i] = copy.deepcopy(value)
    else:
        if not isinstance(node, dict):
            raise ScenarioError([f"--set {path}: the parent of {step!r} is not a section"])
        if rest:
            _assign(node.setdefault(step, {}), rest, value, path, (*done, step))
        else:
            node[step] = value


_NAME = re.compile(r"[A-Za-z_][\w-]*")


def _location(loc: tuple[str | int, ...]) -> str:
    text = ""
    for step in loc:
        if isinstance(step, int) or step == EVERY:
            text += f"[{step}]"
        elif not _NAME.fullmatch(step) or len(step) > 60:  # a key no field has, such as "a b", "x\n" or
            text += f"[{shown(step)}]"                      # 100,000 letters: quoted, on one line, cut
        else:
            text += f".{step}" if text else str(step)
    return text or "(scenario)"


_MESSAGES = {
    "missing": "required field missing",
    "extra_forbidden": "unknown field",
    "invalid_key": "a key must be a name",
}


def _describe(error: dict) -> str:
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):  # a fault of no known kind
        got = f", got {shown(error['ctx']['tag'])}" if error["type"] == "union_tag_invalid" else ", got none"
        return f"`kind` must be one of {', '.join(FAULT_KINDS)}{got}"
    message = _MESSAGES.get(error["type"], error["msg"])
    message = message.removeprefix("Value error, ")
    if error["type"] not in ("missing", "extra_forbidden", "value_error") and "input" in error:
        message += f", got {shown(error['input'])}"
    return message


def _field_path(error: dict, data: Any) -> tuple:
    """The location of a pydantic error as the keys and indices of the user's data.

    pydantic names the branch of a union (e.g. "function-after[...]", or the `kind` of a
    fault) in the location; a reader wants only the field path, and every key the user wrote,
    whatever its characters.
    """
    path: list = []
    node = data
    for step in error["loc"]:
        if isinstance(node, dict) and step == node.get("kind") and step not in node:
            continue  # the branch of a union tagged by `kind`
        if isinstance(node, dict) and step in node or isinstance(node, list) and isinstance(step, int):
            path.append(step)
            node = node[step] if isinstance(node, dict) or 0 <= step < len(node) else None
        elif isinstance(step, int) or not any(c in step for c in "[]("):
            path.append(step)  # a field the user did not write, e.g. a missing one
            node = None
    if error["type"] == "invalid_key":  # the last step is the key itself: name the mapping it is in
        path = path[:-1]
    return tuple(path)


def field_problems(err: ValidationError, data: Any) -> list[str]:
    """pydantic's errors as one line each, naming the field as the user wrote it."""
    seen: list[str] = []
    for error in err.errors():
        line = f"{_location(_field_path(error, data))}: {_describe(error)}"
        if line not in seen:
            seen.append(line)
    return seen


def kind_of(data: Any) -> str:
    """What a YAML document that should be a mapping is instead: "empty", "a list", ..."""
    return "empty" if data is None else f"a {type(data).__name__}"


def validate(data: Any, source_dir: Path | None = None, *, allow_code: bool = False,
             max_memory: float = footprint.DEFAULT_LIMIT_BYTES) -> Scenario:
    """Validate raw scenario data; raise ScenarioError with every problem found. Nothing is
    imported: a scenario that names code is refused unless `allow_code` (or the code is a
    registered entry point; `ekkosim.scenario.user_code`). A run that would need more than
    `max_memory` bytes is refused before anything is built (`ekkosim.scenario.footprint`)."""
    if not isinstance(data, dict):
        raise ScenarioError([f"(scenario): expected a mapping of sections, got {kind_of(data)}"])
    if "scenario" in data and "topology" not in data:
        raise ScenarioError([_names_a_base_scenario(data)])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(field_problems(err, data)) from None
    trace_bytes = 0
    if scenario.workload.trace is not None:
        scenario._trace_path = _resolve(scenario.workload.trace, source_dir)
        try:
            trace_bytes = regular_file_size(scenario.trace_path, MAX_TRACE_BYTES)
        except InputFileError as err:
            raise ScenarioError([f"workload.trace: {scenario.trace_path}: {err}"]) from None
    graphml_nodes = None
    if scenario.topology.graphml is not None:
        scenario._graphml_path = _resolve(scenario.topology.graphml, source_dir)
        try:
            graphml_nodes = set(read_graphml(scenario.graphml_path).nodes)
        except (OSError, ValueError) as err:
            raise ScenarioError([f"topology.graphml: cannot read {str(scenario.graphml_path)!r}: {err}"]) from None
    problems = list(checks.check(scenario, graphml_nodes))
    if problems:
        raise ScenarioError([f"{path}: {message}" for path, message in problems])
    too_large = footprint.estimate(scenario, trace_bytes).problem(max_memory)
    if too_large is not None:  # before the trace is read and the WAN graph is built
        raise ScenarioError([": ".join(too_large)])
    if scenario.workload.trace is not None:
        try:
            scenario._traces = read_trace(scenario.trace_path, scenario.models)
        except TraceError as err:
            raise ScenarioError([f"workload.trace: {err}"]) from None
    if scenario.scheduler.enabled and scenario.scheduler.priority is not None:
        try:
            scenario._priority_ref = user_code.check(scenario.scheduler.priority, source_dir, allow_code)
        except PriorityFunctionError as err:
            raise ScenarioError([f"scheduler.priority: {err}"]) from None
    problems = list(checks.check_paths(scenario, wan_graph(scenario)))
    if problems:
        raise ScenarioError([f"{path}: {message}" for path, message in problems])
    scenario._origin_fields = fields(scenario)  # what later changes are told apart from
    return scenario


def _names_a_base_scenario(data: dict) -> str:
    """The one line for a sweep or calibration file given where a scenario is expected: both name
    a base `scenario`, which no scenario has; a calibration file also has `targets`."""
    kind, command = ("calibration", "calibrate") if "targets" in data else ("sweep", "sweep")
    return f"(scenario): a {kind} file (it names a base `scenario`), not a scenario: run it with `ekkosim {command}`"


def _resolve(name: str, source_dir: Path | None) -> Path:
    path = Path(name)
    return path if path.is_absolute() or source_dir is None else source_dir / path


def read_yaml(path: Path) -> Any:
    """The YAML file at `path`, parsed; an unreadable file or bad YAML is a ScenarioError naming it."""
    try:
        raw = read_bytes(path, MAX_YAML_BYTES)
    except InputFileError as err:
        raise ScenarioError([f"{path}: {err}"]) from None
    return parse_yaml(raw, str(path))


def load(path: str | Path, overrides: list[str] = (), *, allow_code: bool = False,
         max_memory: float = footprint.DEFAULT_LIMIT_BYTES) -> Scenario:
    """Read, override and validate the scenario file at `path` (`validate` says what
    `allow_code` and `max_memory` allow)."""
    path = Path(path)
    data = read_yaml(path)
    as_read = copy.deepcopy(data)
    for assignment in overrides:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            break
        apply_override(data, assignment)
    scenario = validate(data, source_dir=path.parent, allow_code=allow_code, max_memory=max_memory)
    if data != as_read:  # the overrides changed something: the file's own fields are the origin
        try:
            scenario._origin_fields = fields(Scenario.model_validate(as_read))
        except ValidationError:  # the file needs its overrides to be a scenario: all of it differs
            scenario._origin_fields = {}
    return scenario
