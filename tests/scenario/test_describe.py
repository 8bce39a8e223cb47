"""Editor support: the checked-in JSON Schema is `ekkosim schema`'s, and every shipped scenario
points its editor at it; the reference names each quantity's unit."""

import json

import jsonschema
import pytest
import yaml

from ekkosim.scenario.describe import json_schema, markdown
from ekkosim.units import BANDWIDTH
from tests.conftest import REPO, SCENARIOS, run_cli, shipped_scenarios

SCHEMA_FILE = REPO / "ekkosim.schema.json"
SHIPPED = shipped_scenarios()
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
    assert nic["default"] == "5Gbps" and nic["description"].endswith("its base unit is bit/s.")
    quantity = jsonschema.Draft7Validator({**nic, "$defs": schema["$defs"]})
    assert quantity.is_valid("10Gbps") and quantity.is_valid(0) and quantity.is_valid("0")
    assert not quantity.is_valid(10) and not quantity.is_valid("10")  # a bare number: editors flag it too
    uplink = schema["$defs"]["DataCenter"]["properties"]["uplink"]
    assert uplink["default"] is None and "A bandwidth with a unit" in uplink["description"]
    assert uplink["anyOf"][0]["pattern"] == BANDWIDTH.pattern


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_shipped_scenario_points_at_the_schema_and_passes_it(path):
    """A shipped scenario starts with the modeline naming ekkosim.schema.json by a path relative to
    it, then declares YAML 1.1, the loader's, so that editors (YAML 1.2 unless told) read
    `1_000_000` as a number too; and checking it against that schema finds nothing wrong."""
    modeline, directive, start = path.read_text().splitlines()[:3]
    assert modeline.startswith(MODELINE) and (directive, start) == ("%YAML 1.1", "---"), \
        f"{path} must start with {MODELINE}<relative path of ekkosim.schema.json>, %YAML 1.1, ---"
    assert (path.parent / modeline.removeprefix(MODELINE)).resolve() == SCHEMA_FILE
    jsonschema.validate(yaml.safe_load(path.read_text()), json.loads(SCHEMA_FILE.read_text()))


def test_schema_rejects_a_misspelt_unit():
    bad = yaml.safe_load((SCENARIOS / "chain.yaml").read_text())
    bad["chain"]["chunk"] = "250 Mbit"
    errors = list(jsonschema.Draft7Validator(json_schema()).iter_errors(bad))
    assert [list(error.absolute_path) for error in errors] == [["chain", "chunk"]]


def test_reference_rows_show_units_and_defaults():
    page = markdown()
    assert "\n| `topology.wan.bandwidth` | bandwidth | bit/s; e.g. `4800Mbps` | `4.8Gbps` |" in page
    assert "\n| `topology.datacenters[i].uplink` | bandwidth or null | bit/s; e.g. `4800Mbps` | `null` |" in page
    assert "\n| `models` | [list of sections](#models) |  | required |" in page
