"""Figures of runs: the ones every run folder gets (`ekkosim.plots.run`), and the overlays of
`ekkosim plot` and `ekkosim compare` (`ekkosim.plots.latency`). All are drawn on matplotlib's
Agg canvas through `Figure` (never pyplot: no display, no backend forced on the caller), with
the conventions of `ekkosim.plots.draw`: legends below the axes, curves that coincide drawn so
that both show, and a fixed resolution."""
