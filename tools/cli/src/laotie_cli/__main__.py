from laotie_cli.cli import main

raise SystemExit(main())
