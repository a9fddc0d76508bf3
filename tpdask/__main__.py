import sys

from tpdask.cli.main import main

sys.exit(main())
