from laotie_common.service import main

from laotie_orders.bootstrap import build

raise SystemExit(main(build))
