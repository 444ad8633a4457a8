"""``laotie bench``: load the running stack, print figures; exit 1 if the flash sale broke."""

from __future__ import annotations


def bench(*, orders: int, workers: int, rate: int) -> int:
    from laotie_bench.bench import print_bench, run_bench

    result = run_bench(orders=orders, workers=workers, rate=rate)
    print_bench(result)
    flash = result["flash_sale"]
    return 0 if flash["oversold"] == flash["limit_breaches"] == flash["errors"] == 0 else 1
