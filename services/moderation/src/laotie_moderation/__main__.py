from laotie_common.service import main

from laotie_moderation.bootstrap import build

raise SystemExit(main(build))
