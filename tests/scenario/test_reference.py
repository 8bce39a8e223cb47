"""Editor support: the checked-in JSON Schema is `ekkosim schema`'s, and every shipped scenario
points its editor at it; the reference names each quantity's unit."""

import json

import jsonschema
import pytest
import yaml

from ekkosim.scenario.reference import json_schema, markdown
from tests.conftest import REPO, SCENARIOS, run_cli

SCHEMA_FILE = REPO / "ekkosim.schema.json"
SHIPPED = sorted(SCENARIOS.rglob("*.yaml"))
MODELINE = "# yaml-language-server: $schema="


def test_checked_in_schema_is_the_commands_output():
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    assert SCHEMA_FILE.read_text() == result.stdout, "stale: run `ekkosim schema > ekkosim.schema.json`"


def test_schema_is_draft_7_and_names_units():
    schema = json_schema()  # yaml-language-server supports JSON Schema drafts up to 7
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft7Validator
    jsonschema.Draft7Validator.check_schema(schema)
    nic = schema["$defs"]["DataCenter"]["properties"]["nic"]
    assert nic["default"] == "5Gbps" and nic["description"].endswith("a plain number is in bit/s.")
    uplink = schema["$defs"]["DataCenter"]["properties"]["uplink"]
    assert uplink["default"] is None and "A bandwidth with a unit" in uplink["description"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_shipped_scenario_points_at_the_schema_and_passes_it(path):
    """The modeline is the first line, names ekkosim.schema.json by a path relative to the
    scenario, and an editor checking against that file finds nothing wrong."""
    first = path.read_text().splitlines()[0]
    assert first.startswith(MODELINE), f"{path} must start with {MODELINE}<relative path of ekkosim.schema.json>"
    assert (path.parent / first.removeprefix(MODELINE)).resolve() == SCHEMA_FILE
    jsonschema.validate(yaml.safe_load(path.read_text()), json.loads(SCHEMA_FILE.read_text()))


def test_reference_rows_show_units_and_defaults():
    page = markdown()
    assert "\n| `topology.wan.bandwidth` | bandwidth | bit/s; e.g. `4800Mbps` | `4.8Gbps` |" in page
    assert "\n| `topology.datacenters[i].uplink` | bandwidth or null | bit/s; e.g. `4800Mbps` | `null` |" in page
    assert "\n| `models` | [list of sections](#models) |  | required |" in page
