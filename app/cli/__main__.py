"""`python -m app.cli`: the same as the `image-review` command."""

from app.cli import main

raise SystemExit(main())
