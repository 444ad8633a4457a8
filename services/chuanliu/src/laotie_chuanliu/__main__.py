from laotie_common.service import main

from laotie_chuanliu.bootstrap import build

raise SystemExit(main(build))
