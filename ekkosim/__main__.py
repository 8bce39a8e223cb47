import sys

from ekkosim.cli import main

if __name__ == "__main__":  # not when a worker process (Dask's) imports the parent's main module
    sys.exit(main())
