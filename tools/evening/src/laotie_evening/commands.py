"""The evening's commands (``laotie smoke|demo``) against a running stack; exit codes."""

from __future__ import annotations

import asyncio
import json


def smoke(*, events: int, seed: int | None) -> int:
    from laotie_evening.smoke import print_report, run_smoke

    report = run_smoke(events=events, seed=seed)
    print_report(report)
    return 0 if report["ok"] else 1


def demo(*, events: int, seed: int | None) -> int:
    """What `make run` shows: the delivery path, then the services doing their jobs."""
    import time

    from laotie_stack.stack import StackPaths, project_root

    from laotie_evening.evening import run_evening
    from laotie_evening.smoke import print_report, run_smoke

    seed = seed if seed is not None else int(time.time())
    print(f"seed {seed} (replay with: make run SEED={seed})")
    smoke = run_smoke(events=events, seed=seed)
    paths = StackPaths(project_root())
    env = dict(line.split("=", 1) for line in paths.env.read_text().splitlines() if "=" in line)
    evening = asyncio.run(run_evening(env, seed))
    print_report(smoke)
    from laotie_evening.demo_chuanliu import print_chuanliu_report
    from laotie_evening.demo_live import print_live_report
    from laotie_evening.demo_moderation import print_moderation_report
    from laotie_evening.demo_orders import print_orders_report
    from laotie_evening.demo_scoring import print_scoring_report
    from laotie_evening.reconcile import print_reconciliation

    print_orders_report(evening["orders"])
    print_live_report(evening["live"])
    print_moderation_report(evening["moderation"], evening["appeal"], evening["cases"])
    print_scoring_report(evening["scores"])
    print_chuanliu_report(evening["chuanliu"], evening["chuanliu"]["impressions_this_evening"])
    oversold = evening["orders"]["flash_sale"]["oversold"]
    print_reconciliation(evening["reconciliation"], oversold)
    from laotie_evening.report_html import render

    report = {"seed": seed, "delivery": smoke, **evening}
    report_path = paths.home / "run-report.json"
    report_path.write_text(json.dumps(report, indent=2, default=str))
    page = paths.home / "run-report.html"
    page.write_text(render(json.loads(report_path.read_text())), encoding="utf-8")
    ok = (
        smoke["ok"]
        and evening["orders"]["flash_sale"]["oversold"] == 0
        and evening["reconciliation"]["dead_letters"] == 0
        and evening["reconciliation"]["caught_up"]
        and all(case["ok"] for case in evening["cases"].values())
        and evening["orders"]["distribution"]["forged_reference_refused"] == "promotion_invalid"
    )
    print(f"\nreport: {report_path} and, with its charts, {page}")
    return 0 if ok else 1
