from laotie_dev.cli import main

raise SystemExit(main())
