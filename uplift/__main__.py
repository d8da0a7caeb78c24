import sys

from uplift.cli import main

sys.exit(main())
