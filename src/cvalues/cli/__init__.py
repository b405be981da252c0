"""The ``cvalues`` command line (Typer apps, one module per command group)."""

import os
import sys

# Printed to a file or a pipe (CI logs, `| tee`), rich would assume 80 columns and cut the headers
# of the per-domain tables; 120 keeps them whole. An explicit COLUMNS still wins. This runs before
# any command module creates its Console.
if "COLUMNS" not in os.environ and not sys.stdout.isatty():
    os.environ["COLUMNS"] = "120"
