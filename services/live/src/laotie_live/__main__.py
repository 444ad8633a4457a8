from laotie_common.service import main

from laotie_live.bootstrap import build

raise SystemExit(main(build))
