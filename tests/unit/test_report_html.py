"""run-report.html: the evening's charts drawn offline, with every text escaped (issue 21,
item 3)."""

from __future__ import annotations

from xml.etree import ElementTree

from laotie_evening.report_html import bars, render

PAYLOAD = "<script>alert(1)</script>"


def report() -> dict[str, object]:
    holdout = {"buyers": 2, "converted": 0, "conversion": 0.0, "net_fen_per_buyer": 0.0}
    treated = {"buyers": 17, "converted": 1, "conversion": 0.0588, "net_fen_per_buyer": 0.0}
    return {
        "seed": 7,
        "live": [
            {"session": f"anchor: {PAYLOAD}", "gmv_fen": 156200, "conversion": 0.03},
            {"session": "brand: 品牌自播", "gmv_fen": 13860, "conversion": 0.1},
        ],
        "orders": {
            "flash_sale": {
                "stock": 20,
                "sold": 15,
                "left": 5,
                "buyers": 47,
                "oversold": 0,
                "rejected": {"limit_exceeded": 10, "out_of_stock": 24},
            }
        },
        "moderation": [{"code": "diversion", "degree": "serious"}, {"code": PAYLOAD}],
        "scores": [
            {
                "kind": "shop",
                "subject_id": "s-1",
                "status": "not_enough_data",
                "missing": ["after_sales"],
            }
        ],
        "chuanliu": {
            "budget": {"day": "2026-12-05", "granted": 340, "left": 199_999_660},
            "brand": {"against_holdout": {"treated": treated, "holdout": holdout}},
            "session_rounds": {"grants_by_round": {"1": 5, "2": 12}},
        },
    }


def test_the_page_draws_each_chart_as_svg_and_escapes_what_the_run_wrote() -> None:
    page = render(report())
    assert page.count("<svg") == 7
    assert PAYLOAD not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "treated (n=17)" in page
    assert "holdout (n=2)" in page
    assert "default-src 'none'" in page  # nothing fetched, nothing run
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "").replace("http-equiv", "")


def test_bars_are_well_formed_svg_scaled_to_the_largest_value() -> None:
    figure = bars("t", [("a", 50), ("b", 100)])
    svg = ElementTree.fromstring(figure[figure.index("<svg") : figure.index("</svg>") + 6])  # noqa: S314 (our own output)
    widths = [float(r.get("width", 0)) for r in svg.iter("{http://www.w3.org/2000/svg}rect")]
    assert widths == [210, 420]
