import re

import pytest

from ekkosim.units import BANDWIDTH, DURATION, SIZE


@pytest.mark.parametrize(
    ("dimension", "text", "value"),
    [
        (BANDWIDTH, "4800Mbps", 4.8e9),
        (BANDWIDTH, "5Gbps", 5e9),
        (BANDWIDTH, "1GB/s", 8e9),  # bytes per second: 8 bits each
        (BANDWIDTH, "1MiB/s", 8 * 2**20),
        (BANDWIDTH, 0, 0.0),  # 0 needs no unit: it is 0 in every one
        (DURATION, "0", 0.0),
        (SIZE, 0.0, 0.0),
        (SIZE, "100GB", 100e9),
        (SIZE, "1GiB", 2**30),
        (SIZE, "64MB", 64e6),
        (SIZE, "1.5kB", 1500.0),
        (DURATION, "40ms", 0.04),
        (DURATION, "1.5s", 1.5),
        (DURATION, "2min", 120.0),
        (DURATION, "100us", 1e-4),
        (DURATION, "0.1ms", 1e-4),  # decimal scaling: the same float as 100us
    ],
)
def test_parse(dimension, text, value):
    assert dimension.parse(text) == value


@pytest.mark.parametrize(
    ("dimension", "bare", "message"),
    [(BANDWIDTH, 10, "give a unit, e.g. 10Gbps"), (DURATION, 30, "give a unit, e.g. 30s"),
     (DURATION, "0.5", "give a unit, e.g. 0.5s"), (SIZE, 64.0, "give a unit, e.g. 64.0B"),
     (SIZE, 10**400, "give a unit, e.g. 1B")],
)
def test_a_bare_number_other_than_0_needs_a_unit(dimension, bare, message):
    """`bandwidth: 10` would be 10 bit/s and `latency: 30` 30 s: a trap, refused."""
    with pytest.raises(ValueError) as err:
        dimension.parse(bare)
    assert str(err.value) == message


@pytest.mark.parametrize("text", ["5 Gbs", "fast", "Gbps", "", "1..2Gbps", True, None, [1]])
def test_malformed_bandwidth_is_rejected(text):
    with pytest.raises(ValueError):
        BANDWIDTH.parse(text)


@pytest.mark.parametrize(
    ("dimension", "value", "text"),
    [(BANDWIDTH, 4.8e9, "4.8Gbps"), (SIZE, 100e9, "100GB"), (SIZE, 2**30, "1GiB"), (DURATION, 300.0, "5min"),
     (DURATION, 1e-4, "100us"), (DURATION, 0.0, "0ns"), (DURATION, 0.1234567891, "0.1234567891s"),
     (SIZE, 0.5, "0.5B"), (BANDWIDTH, 0.5, "0.5bps")],
)
def test_format_is_shortest_and_round_trips(dimension, value, text):
    assert dimension.format(value) == text
    assert dimension.parse(dimension.format(value)) == value


@pytest.mark.parametrize("dimension", [SIZE, BANDWIDTH, DURATION], ids=lambda d: d.name)
def test_pattern_accepts_what_parse_accepts(dimension):
    """Editors check quantities with `pattern` (in the JSON Schema): it must agree with `parse`."""
    numbers = ["1", "-2.5", ".5", "1e3", "7.", "1..2", "", "e3", "1_000", "0", "-0.0", ".0", "0e3", "00", "0x0"]
    units = [*dimension.units, "", "Gbs", "xB", "s/s", "GB/s/"]
    for text in (f"{lead}{n}{gap}{u}" for n in numbers for u in units for lead, gap in (("", ""), (" ", " "))):
        try:
            dimension.parse(text)
            parses = True
        except ValueError:
            parses = False
        assert bool(re.match(dimension.pattern, text)) == parses, text
