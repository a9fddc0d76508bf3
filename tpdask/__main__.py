import sys

from tpdask.cli import main

sys.exit(main())
