import sys

from ekkosim.cli import main

sys.exit(main())
