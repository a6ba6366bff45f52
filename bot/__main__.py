"""``python -m bot bot | worker``."""

from bot.cli import main

raise SystemExit(main())
