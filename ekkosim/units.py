"""Quantities with units, as scenarios write them: sizes, bandwidths and durations.

SI prefixes are powers of ten (1 GB = 10^9 bytes, 1 Gbps = 10^9 bit/s); the binary prefixes
KiB, MiB, GiB, TiB are powers of two. A quantity must carry its unit: a bare number (`bandwidth:
10`) is refused, since 10 bit/s where 10 Gbps was meant, or 30 s where 30 ms was, would run and
mislead; only 0, the same in every unit, may be written bare. Values are parsed to floats in
base units, and formatted back to the shortest exact unit string, so a resolved scenario reads
like the one a person wrote and parses back to the same numbers.

This table is ours rather than Pint's: Pint reads "100us" as 9.999999999999999e-05 s (we scale
in decimal and round once, so "100us" and "0.1ms" are the same float), reads "Mbps" as megabaud,
has no shortest-exact formatter nor the regular expression editors check quantities with, and
adds about 0.3 s to every command's start (its registry); the units a scenario needs fit in the
tables below.
"""

from __future__ import annotations

import math
import re
import reprlib
from dataclasses import dataclass, field
from decimal import Decimal

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z/]*)\s*$")
_ZERO = r"[-+]?(?:0+(?:\.0*)?|\.0+)(?:[eE][-+]?\d+)?"  # the one number that needs no unit

_ONE = Decimal(1)
_SI = {"": _ONE, "k": Decimal("1e3"), "K": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"),
       "T": Decimal("1e12"), "P": Decimal("1e15")}
_BINARY = {"Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40)}


def _size_units() -> dict[str, Decimal]:
    units = {f"{p}B": f for p, f in _SI.items()}
    units.update({f"{p}B": f for p, f in _BINARY.items()})
    units["bytes"] = _ONE
    return units


def _bandwidth_units() -> dict[str, Decimal]:
    units = {f"{p}bps": f for p, f in _SI.items()}  # bits per second
    units.update({f"{p}B/s": 8 * f for p, f in _SI.items()})  # bytes per second, 8 bits each
    units.update({f"{p}B/s": 8 * f for p, f in _BINARY.items()})
    return units


_DURATION_UNITS = {
    "ns": Decimal("1e-9"), "us": Decimal("1e-6"), "ms": Decimal("1e-3"), "s": _ONE,
    "min": Decimal(60), "h": Decimal(3600),
}


def cut(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters, for messages that quote what a user wrote."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: object, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters, in time that does not grow with the value: a
    string is cut before it is quoted, a container shows its first few items, a few levels deep."""
    if isinstance(value, int) and value.bit_length() > 4 * limit:  # repr of a huge int is slow, or refused
        return f"an integer of about {int(value.bit_length() * 0.30103):,} digits"
    if isinstance(value, (str, bytes)):
        return cut(repr(value[: limit + 1]), limit)
    return cut(_SHORT.repr(value), limit)


_SHORT = reprlib.Repr()  # a repr of the first items of a value's first levels
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 3, 60, 60, 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = _SHORT.maxfrozenset = _SHORT.maxdeque = 6


def shown_count(n: float) -> str:
    """A count for a message: 9,000,000 in full, but 9e+302 rather than a line of 400 digits."""
    return f"{n:,.0f}" if n < 1e15 else f"{n:.3g}"


@dataclass(frozen=True)
class Dimension:
    """A physical dimension: its base unit, the unit names it accepts, and the ones it prints."""

    name: str
    base: str
    units: dict[str, Decimal] = field(hash=False)  # hashable, so that a type may carry its dimension
    preferred: tuple[str, ...]  # units tried, largest first, when formatting

    def parse(self, text: str | int | float) -> float:
        """Parse `text` (e.g. "4800Mbps") to a float in the base unit; ValueError if malformed.

        The number is scaled in decimal arithmetic and rounded once, so "100us" is exactly the
        float nearest 0.0001, the same as "0.1ms".
        """
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise ValueError(f"expected a {self.name} such as {self.example}, got {shown(text)}")
        if isinstance(text, int):  # not through str(): Python refuses to print an int of 4,300+ digits
            number, unit = text, ""
        else:
            match = _QUANTITY.match(text if isinstance(text, str) else repr(text))
            if match is None:
                raise ValueError(f"expected a {self.name} such as {self.example}, got {shown(text)}")
            number, unit = match.groups()
        if unit and unit not in self.units:
            known = ", ".join(sorted(self.units, key=self.units.__getitem__))
            raise ValueError(f"unknown {self.name} unit {unit!r} in {shown(text)} (known: {known})")
        if not unit and Decimal(number) != 0:
            written = number if isinstance(number, str) else str(number) if number.bit_length() < 64 else ""
            raise ValueError(f"give a unit, e.g. {written if 0 < len(written) <= 20 else '1'}{self.hint}")
        value = float(Decimal(number) * self.units.get(unit, _ONE))
        if math.isinf(value):
            raise ValueError(f"{self.name} {shown(text)} is too large")
        return value

    def format(self, value: float) -> str:
        """The shortest unit string that parses back to exactly `value`, e.g. "4800Mbps"."""
        if value == 0:
            return f"0{self.preferred[-1]}"
        exact = Decimal(repr(float(value)))
        for unit in self.preferred:
            scaled = (exact / self.units[unit]).normalize()
            if abs(scaled) >= 1 and len(scaled.as_tuple().digits) <= 6:
                text = f"{scaled:f}{unit}"
                if self.parse(text) == value:
                    return text
        return f"{float(value)!r}{self.base_unit}"

    @property
    def base_unit(self) -> str:
        """The unit of factor 1, as scenarios write it: B, bps, s."""
        return next(unit for unit in reversed(self.preferred) if self.units[unit] == _ONE)

    @property
    def pattern(self) -> str:
        """A regular expression (ECMA-262 as well as Python's) of the strings `parse` reads, for editors."""
        units = "|".join(re.escape(unit) for unit in sorted(self.units, key=len, reverse=True))
        return rf"^\s*(?:{_NUMBER}\s*(?:{units})|{_ZERO})\s*$"

    @property
    def example(self) -> str:
        return {"size": "100GB", "bandwidth": "4800Mbps", "duration": "40ms"}[self.name]

    @property
    def hint(self) -> str:
        """The unit suggested for a bare number: the one people most often mean."""
        return {"size": "B", "bandwidth": "Gbps", "duration": "s"}[self.name]


SIZE = Dimension("size", "bytes", _size_units(), ("TB", "GB", "MB", "kB", "TiB", "GiB", "MiB", "KiB", "B"))
BANDWIDTH = Dimension("bandwidth", "bit/s", _bandwidth_units(), ("Tbps", "Gbps", "Mbps", "kbps", "bps"))
DURATION = Dimension("duration", "s", _DURATION_UNITS, ("h", "min", "s", "ms", "us", "ns"))
