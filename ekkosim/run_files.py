"""The names of the files ekkosim writes, in one place: a run folder's and a sweep folder's.

Writers (the runner, the strategies' tables, the sweep), readers (`load_run`, `plot`,
`reproduce`, a resumed sweep) and the manifest that says which files a folder's owner wrote
(`ekkosim.results.manifest`) all take them from here.
"""

MANIFEST = "manifest.json"  # what ekkosim wrote in the folder: what a rerun may clear
INCOMPLETE = "INCOMPLETE"  # present while a run writes; a run that stopped leaves it
SUMMARY = "summary.json"  # written last: a folder with it is a finished run
RESOLVED = "scenario.resolved.yaml"  # the scenario with every default filled in
FLOWS = "flows.parquet"
TIMESERIES = "timeseries.parquet"
LATENCY = "latency.parquet"  # strategy ekko
QUALITY = "quality.parquet"  # with a quality model
# the run's figures (`ekkosim.plots.run`), unless `--no-plots`
LATENCY_FIGURE, LINKS_FIGURE, QUALITY_FIGURE = "latency_cdf.png", "links.png", "quality.png"
SWEEP_TABLE = "sweep.parquet"  # in a sweep's folder, beside its runs' folders
