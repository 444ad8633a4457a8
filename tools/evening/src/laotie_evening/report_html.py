"""``run-report.html``: the evening's report with its charts, rendered offline.

Charts are SVG drawn here (no chart library, no script, no network): bars for each session's
GMV and conversion, the flash sale's stock, penalties by code, Chuanliu's budget and the
uplift against the holdout with its sample sizes. Every text from the run (titles, ids,
codes) is escaped: the report shows what buyers and sellers wrote, it never runs it.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

BAR_H, GAP, LABEL_W, BAR_W = 22, 8, 260, 420
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
svg text{font:12px system-ui,sans-serif}.bar{fill:#3b7dd8}.alt{fill:#e07b39}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
"""


def bars(title: str, rows: list[tuple[str, float]], unit: str = "", alt: bool = False) -> str:
    """A horizontal bar chart of ``rows`` (label, value) as one ``<figure>`` with an SVG."""
    top = max((v for _, v in rows), default=0) or 1
    height = len(rows) * (BAR_H + GAP) + GAP
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{LABEL_W + BAR_W + 120}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, value) in enumerate(rows):
        y, width = GAP + i * (BAR_H + GAP), round(BAR_W * value / top)
        parts += [
            f'<text x="0" y="{y + 15}">{escape(label[:40])}</text>',
            f'<rect class="{"alt" if alt else "bar"}" x="{LABEL_W}" y="{y}" width="{width}"'
            f' height="{BAR_H}"/>',
            f'<text x="{LABEL_W + width + 6}" y="{y + 15}">{escape(_number(value))}{unit}</text>',
        ]
    parts.append("</svg>")
    return f"<figure><figcaption>{escape(title)}</figcaption>{''.join(parts)}</figure>"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4f}"


def _yuan(fen: Any) -> float:
    return int(fen) / 100


def sessions(live: list[dict[str, Any]]) -> str:
    gmv = [(s["session"], _yuan(s["gmv_fen"])) for s in live]
    conversion = [(s["session"], float(s["conversion"]) * 100) for s in live]
    return bars("GMV per live session (yuan)", gmv, " ¥") + bars(
        "Conversion per session (buyers / unique viewers, %)", conversion, " %", alt=True
    )


def flash_sale(flash: dict[str, Any]) -> str:
    rows = [("stock", flash["stock"]), ("sold", flash["sold"]), ("left", flash["left"])]
    rows += [(f"refused: {reason}", n) for reason, n in sorted(flash["rejected"].items())]
    rows.append(("oversold", flash["oversold"]))
    return bars(f"Flash sale: {flash['buyers']} buyers for the stock", rows)


def penalties(moderation: list[dict[str, Any]]) -> str:
    by_code = Counter(f"{v['code']} ({v.get('degree') or '?'})" for v in moderation)
    return bars("Thunder Plan violations by code (degree)", sorted(by_code.items()))


def chuanliu(report: dict[str, Any]) -> str:
    budget = report["budget"]
    spend = [("granted today", budget["granted"]), ("left today", budget["left"])]
    holdout = report["brand"]["against_holdout"]
    groups = [
        (f"{g} (n={holdout[g]['buyers']})", holdout[g]["conversion"] * 100)
        for g in ("treated", "holdout")
    ]
    rounds = [
        (f"round {r}", n) for r, n in sorted(report["session_rounds"]["grants_by_round"].items())
    ]
    return (
        bars(f"Chuanliu budget, {budget['day']} (impressions)", spend)
        + bars(
            "Brand conversion: granted buyers vs the holdout (%, sample sizes)", groups, " %", True
        )
        + bars("Buyers granted per round of the brand's session", rounds)
    )


def scores(rows: list[dict[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{escape(str(s['kind']))}</td><td>{escape(str(s['subject_id']))}</td>"
        f"<td>{escape(str(s.get('status') or s.get('band')))}</td>"
        f"<td>{escape(str(s.get('value', '')))}</td>"
        f"<td>{escape(', '.join(s.get('missing') or []))}</td></tr>"
        for s in rows
    )
    return (
        "<table><tr><th>kind</th><th>subject</th><th>band or status</th><th>score</th>"
        f"<th>dimensions without their sample</th></tr>{body}</table>"
    )


def render(report: dict[str, Any]) -> str:
    """The whole page for one ``run-report.json``."""
    sections = [
        ("Live sessions", sessions(report["live"])),
        ("Flash sale", flash_sale(report["orders"]["flash_sale"])),
        ("Thunder Plan (雷霆计划)", penalties(report["moderation"])),
        ("Scores", scores(report["scores"])),
        ("Chuanliu (川流计划)", chuanliu(report["chuanliu"])),
    ]
    body = "".join(f"<h2>{escape(title)}</h2>{html}" for title, html in sections)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';'
        " style-src 'unsafe-inline'\">"
        f"<title>Laotie evening, seed {escape(str(report['seed']))}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Laotie evening (seed {escape(str(report['seed']))})</h1>{body}</body></html>\n"
    )
