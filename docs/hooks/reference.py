"""A mkdocs hook: the scenario reference page (reference.md), generated from the schema when the
site is built, so that it cannot drift from the code (ekkosim/scenario/describe.py)."""

from mkdocs.structure.files import File

from ekkosim.scenario.describe import markdown


def on_files(files, config):
    files.append(File.generated(config, "reference.md", content=markdown()))
    return files
