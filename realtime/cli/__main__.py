"""`python -m realtime.cli`: the `stylevj` command."""

import sys

from . import main

sys.exit(main())
