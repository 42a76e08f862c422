"""`python -m live` is the same as the `live` console script."""

from live.cli import main

raise SystemExit(main())
