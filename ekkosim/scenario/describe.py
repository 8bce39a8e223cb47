"""The scenario reference, read off the schema so that it cannot drift from it: every field's path,
type, unit, default and meaning, as a Markdown page (the docs site builds it, docs/hooks/) and as
the JSON Schema editors use (`ekkosim schema`), whose descriptions name each quantity's unit.
"""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ekkosim.schema import Scenario
from ekkosim.units import BANDWIDTH, DURATION, SIZE, Dimension

JSON_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"  # what yaml-language-server supports
_SCALARS = {int: "integer", float: "number", bool: "boolean", str: "string"}
_BOUNDS = ((Gt, "gt", ">"), (Ge, "ge", "≥"), (Lt, "lt", "<"), (Le, "le", "≤"))


@dataclass(frozen=True)
class Section:
    """A section of a scenario: its model, its path (`topology.datacenters[i]`; "" for the top),
    and for one kind of a list of several (`faults[i]`), the kind."""

    path: str
    model: type[BaseModel]
    kind: str | None = None

    def field_path(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    @property
    def anchor(self) -> str:
        """The heading id of its table: `topology-datacenters` for `topology.datacenters[i]`."""
        base = self.path.replace("[i]", "").replace(".", "-") or "scenario"
        return base if self.kind is None else f"{base}-{self.kind}"


def sections(model: type[BaseModel] = Scenario, path: str = "", kind: str | None = None) -> Iterator[Section]:
    """Every section of the schema, depth first in field order; an item of a list is `path[i]`,
    and a list of several kinds (tagged by `kind`) has a section per kind."""
    parent = Section(path, model, kind)
    yield parent
    for name, field in model.model_fields.items():
        models, many = _sections_of(field.annotation)
        for section in models:
            tag = _kind(section) if len(models) > 1 else None
            yield from sections(section, parent.field_path(name) + ("[i]" if many else ""), tag)


def _sections_of(annotation: Any) -> tuple[list[type[BaseModel]], bool]:
    """The models a field holds (one, or a list of them, or a list of several kinds), else none."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list:
        return _sections_of(args[0])[0], True
    if origin is Annotated:
        return _sections_of(args[0])
    if origin in (Union, types.UnionType):
        models = [arg for arg in args if isinstance(arg, type) and issubclass(arg, BaseModel)]
        return (models, False) if len(models) == len(args) else ([], False)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation], False
    return [], False


def _kind(model: type[BaseModel]) -> str:
    return get_args(model.model_fields["kind"].annotation)[0]


def dimension(field: FieldInfo) -> Dimension | None:
    """The physical dimension of a quantity field (possibly nullable), else None."""
    found = [m for m in field.metadata if isinstance(m, Dimension)]
    for arg in get_args(field.annotation):
        if get_origin(arg) is Annotated:
            found += [m for m in arg.__metadata__ if isinstance(m, Dimension)]
    return found[0] if found else None


def dimension_at(path: str) -> Dimension | None:
    """The physical dimension of the field at a `--set` path (`topology.links[1].bandwidth`,
    `faults[*].at`), or None if it is not a quantity or not a field."""
    from ekkosim.scenario.load import split_path  # the loader imports the schema, as this module does

    models: list[type[BaseModel]] = [Scenario]
    field = None
    for step in split_path(path):
        if not isinstance(step, str) or step == "*":
            continue  # an item of a list: the field already names the item's models
        field = next((m.model_fields[step] for m in models if step in m.model_fields), None)
        if field is None:
            return None
        models = _sections_of(field.annotation)[0]
    return None if field is None else dimension(field)


def _type(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type(args[0])
    if origin in (Union, types.UnionType):
        return " or ".join(_type(arg) for arg in args)
    if origin is Literal:
        return " or ".join(f"`{arg}`" for arg in args)
    if origin is list:
        return f"list of {_type(args[0])}s"
    if annotation is type(None):
        return "null"
    if issubclass(annotation, BaseModel):
        return "section"
    return _SCALARS[annotation]


def type_text(field: FieldInfo) -> str:
    """A field's type in words, with its range: `integer, ≥ 1, ≤ 100000`, `bandwidth or null`, ..."""
    dim = dimension(field)
    text = _type(field.annotation)
    bounds = [f"{sign} {getattr(m, attr)}" for m in field.metadata for kind, attr, sign in _BOUNDS if isinstance(m, kind)]
    return ", ".join([text.replace("number", dim.name, 1) if dim is not None else text, *bounds])


def default_text(field: FieldInfo) -> str:
    """A field's default as a scenario would write it; `required` if it has none."""
    if field.is_required():
        return "required"
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        return "its fields' defaults"
    dim = dimension(field)
    return dim.format(default) if dim is not None and default is not None else json.dumps(default)


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def description(field: FieldInfo) -> str:
    """A field's meaning; a section without its own description is described by its model."""
    models, _ = _sections_of(field.annotation)
    return _one_line(field.description or (len(models) == 1 and inspect.getdoc(models[0])) or "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _unit_text(field: FieldInfo) -> str:
    dim = dimension(field)
    return "" if dim is None else f"{dim.base}; e.g. `{dim.example}`"


def markdown() -> str:
    """The scenario reference page."""
    lines = [
        "# Scenario reference",
        "",
        "Every field a scenario may set, generated from the schema (`ekkosim/schema.py`) when",
        "the site is built, so it always matches the code. A path such as `topology.datacenters[i].nic`",
        "is also what `ekkosim run --set` takes (with an index for `[i]`). Unknown fields are errors.",
        "",
        "Quantities are written with a unit (`4800Mbps`, `40ms`, `100GB`): a bare number is an error,",
        "except 0 (`bandwidth: 10` would be 10 bit/s, `latency: 30` 30 s). SI prefixes are powers of ten,",
        "`Ki`, `Mi`, `Gi`, `Ti` powers of two. Why ekkosim parses units itself rather than with Pint:",
        "the docstring of `ekkosim/scenario/units.py`.",
        "",
        "| quantity | base unit | units accepted |",
        "|---|---|---|",
    ]
    for dim in (SIZE, BANDWIDTH, DURATION):
        lines.append(f"| {dim.name} | {dim.base} | {', '.join(f'`{u}`' for u in dim.units)} |")
    every = list(sections())
    for section in every:
        title = f"`{section.path}`" if section.path else "The top level"
        title += "" if section.kind is None else f" of kind `{section.kind}`"
        lines += ["", f"## {title} {{#{section.anchor}}}", "", _one_line(inspect.getdoc(section.model)), ""]
        lines += ["| field | type | unit | default | meaning |", "|---|---|---|---|---|"]
        for name, field in section.model.model_fields.items():
            path = section.field_path(name)
            kind = type_text(field)
            held = [other for other in every if other.path.removesuffix("[i]") == path]
            if len(held) == 1:
                kind = f"[{kind}](#{held[0].anchor})"
            elif held:
                kind = "list of " + ", ".join(f"[`{other.kind}`](#{other.anchor})" for other in held)
            default = default_text(field)
            cells = [f"`{path}`", kind, _unit_text(field), default if field.is_required() else f"`{default}`",
                     description(field)]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def json_schema() -> dict:
    """The scenario JSON Schema, for editors: each quantity's description names its unit, and
    its default is written with one."""
    schema = {"$schema": JSON_SCHEMA_DIALECT, **Scenario.model_json_schema()}
    for section in sections():
        properties = (schema if section.model is Scenario else schema["$defs"][section.model.__name__])["properties"]
        for name, field in section.model.model_fields.items():
            dim = dimension(field)
            if dim is None:
                continue
            prop = properties[name]
            prop["description"] = (f"{prop['description']} A {dim.name} with a unit, e.g. {dim.example!r} "
                                   f"(a bare number only if 0); its base unit is {dim.base}.")
            if field.default is not None and not field.is_required():
                prop["default"] = dim.format(field.default)
    return schema
