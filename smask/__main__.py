from smask.cli import main

raise SystemExit(main())
