"""The documentation site builds with `mkdocs build --strict` (broken links, anchors and snippets
are errors), and its generated scenario reference lists every field of the schema."""

import html
import os
import subprocess
import sys

import pytest

from ekkosim.scenario.describe import json_schema
from tests.conftest import REPO


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    return out


def _fields(schema: dict, node: dict, prefix: str = ""):
    """Every field's path, read off the JSON Schema (not the walker that writes the page): an item
    of a list is `[i]`; `$ref`s are followed wherever they sit (a field, a nullable field, a list,
    a list of several kinds)."""
    for name, prop in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield path, prop
        items = prop.get("items", {})
        for branch in [prop, *prop.get("anyOf", [])]:
            for ref, suffix in ((branch.get("$ref"), ""), (branch.get("items", {}).get("$ref"), "[i]")):
                if ref is not None:
                    yield from _fields(schema, schema["$defs"][ref.split("/")[-1]], path + suffix)
        for kind in items.get("oneOf", []):
            yield from _fields(schema, schema["$defs"][kind["$ref"].split("/")[-1]], path + "[i]")


def test_site_builds_every_page(site):
    pages = {path.parent.name for path in site.glob("*/index.html")}
    assert {path.stem for path in (REPO / "docs").glob("*.md")} - {"index"} <= pages
    assert "reference" in pages


def test_reference_lists_every_field_with_its_unit(site):
    page = html.unescape((site / "reference" / "index.html").read_text())
    rows = {row.split("</code>")[0].split("<code>")[-1]: row for row in page.split("<tr>")[2:] if "<code>" in row}
    schema = json_schema()
    fields = dict(_fields(schema, schema))
    assert {"topology.datacenters[i].nic", "network.congestion[i].fraction", "models[i].workload.zipf",
            "quality.biased_updates[i].model", "faults[i].replica", "faults[i].link", "sync.retry.timeout"} <= set(fields)
    assert set(fields) <= set(rows), sorted(set(fields) - set(rows))
    for path, prop in fields.items():
        if "its base unit is" in prop.get("description", ""):  # a quantity: the row names its unit
            assert prop["description"].split("its base unit is ")[1].rstrip(".") in rows[path], path
