from desktune.cli import main

raise SystemExit(main())
