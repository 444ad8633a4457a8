from laotie_common.service import main

from laotie_scoring.bootstrap import build

raise SystemExit(main(build))
