"""``python -m exptrace.query.cli``: the ``exptrace`` command."""

import sys

from exptrace.query.cli.commands import main

sys.exit(main())
