"""The version of ekkosim, which every run records in its summary (summary.json)."""

__version__ = "0.1.0"
