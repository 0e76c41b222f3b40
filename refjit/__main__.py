from refjit.cli import main

raise SystemExit(main())
