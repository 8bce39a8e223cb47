import sys


def main() -> int:
    """The `ekkosim` command: re-executed once with huge pages where they help (`ekkosim.huge_pages`),
    then `ekkosim.cli`."""
    from ekkosim.huge_pages import exec_with_huge_pages

    exec_with_huge_pages()
    from ekkosim.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":  # not when a worker process (Dask's) imports the parent's main module
    sys.exit(main())
