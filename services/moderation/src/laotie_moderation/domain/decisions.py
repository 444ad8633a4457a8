"""What a violation decides, without I/O: its id, the ladder step it reaches, the measures
that step imposes on its subject and when they end, the year its points count in, when the
points close the subject, and whether a penalty may still be appealed.

Violation ids derive from (code, source, subject, trigger): the same triggering fact seen
again — a redelivery or a replayed stream — decides nothing new, while the same product or
room offending again in a later fact (a relisting, another report) is a new violation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from laotie_common.problems import Conflict
from laotie_contracts.moderation import Evidence, Measure

from laotie_moderation.policy import Code, MeasureRule, Policy, Step

VIOLATION_IDS = uuid.UUID("5b0c8c3e-6f53-4a57-9a3e-3f4f6c2d1a10")


@dataclass(frozen=True)
class Subject:
    type: str
    id: str
    shop_id: str | None = None


def violation_id_for(code: str, evidence: Evidence, subject: Subject, trigger: str | None) -> str:
    """The id of a violation: the same for the same triggering fact (an event's id, a
    report's), another for another one."""
    return str(
        uuid.uuid5(
            VIOLATION_IDS,
            f"{code}|{evidence.source_type}|{evidence.source_id}|{subject.type}|{subject.id}"
            f"|{trigger or ''}",
        )
    )


def ladder_step(rule: Code, prior_in_window: int, override: int | None = None) -> tuple[int, Step]:
    """The step a violation reaches — the next after the subject's ``prior_in_window``
    violations of the code, or ``override`` — as (its index on the ladder, the step)."""
    index = override if override is not None else prior_in_window
    return min(index, len(rule.ladder) - 1), rule.step(index)


def measures_for(
    rules: Iterable[MeasureRule], subject: Subject, evidence: Evidence, now: datetime
) -> list[Measure]:
    """The measures a step's rules impose on ``subject``: those that apply to its type; a
    delisting names the offending product (and is skipped if no product offended)."""
    measures = []
    for rule in rules:
        if rule.applies_to is not None and subject.type not in rule.applies_to:
            continue
        product_ids: list[str] = []
        if rule.kind == "delist_products" and not rule.all_goods:
            if evidence.source_type != "product":
                continue  # only the offending product is delisted, if a product offended
            product_ids = [evidence.source_id]
        measures.append(
            Measure(
                kind=rule.kind,
                until=now + timedelta(days=rule.days) if rule.days else None,
                product_ids=product_ids,
                amount_fen=rule.fen,
            )
        )
    return measures


def penalty_expiry(measures: Iterable[Measure]) -> datetime | None:
    """When a penalty's last timed measure ends (None: no timed measure)."""
    timed = [m.until for m in measures if m.until is not None]
    return max(timed) if timed else None


CLOSURE_CODE = "points_closure"  # a closure decided by points: final, not appealable


def appeal_deadline(policy: Policy, applied_at: datetime) -> datetime:
    """The end of the window's last natural day in the policy's calendar. The day of the
    decision does not count (as periods in days are reckoned, Civil Code art. 201), so a
    7-day window from a decision at any hour of 1 March ends at 24:00 on 8 March, Shanghai
    time: never shorter than 7×24 h, and the same for every penalty decided that day. With
    the policy's ``appeal_window_s`` (a compressed clock for demos and tests, never set in
    production) the window is that many seconds from the decision instead."""
    if policy.appeal_window_s is not None:
        return applied_at + timedelta(seconds=policy.appeal_window_s)
    zone = ZoneInfo(policy.calendar_timezone)
    last_day = applied_at.astimezone(zone).date() + timedelta(days=policy.appeal_window_days)
    return datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)


def initial_points_status(points: int) -> str:
    """Points wait for the appeal window to lapse before they are booked."""
    return "pending" if points else "none"


def shipping_week(policy: Policy, ship_by: datetime) -> tuple[date, datetime, datetime]:
    """The calendar week ``ship_by`` is in (the policy's calendar): its Monday, and its
    bounds in UTC (Monday 00:00 to the next). The case a late shipment is judged in."""
    zone = ZoneInfo(policy.calendar_timezone)
    day = ship_by.astimezone(zone).date()
    monday = day - timedelta(days=day.weekday())
    start = datetime.combine(monday, time.min, tzinfo=zone)
    return monday, start.astimezone(UTC), (start + timedelta(days=7)).astimezone(UTC)


def judged_weeks_end(policy: Policy, now: datetime) -> datetime:
    """Orders due before this instant are in weeks that may be judged: the start of the
    week (the policy's calendar) that ``judged_after_hours`` ago was in."""
    _, start, _ = shipping_week(policy, now - timedelta(hours=policy.shipping.judged_after_hours))
    return start


def late_week(policy: Policy, late: int, due: int) -> bool:
    """Whether a week's ``late`` of ``due`` orders (those whose deadline has passed) make a
    late-shipment violation."""
    rule = policy.shipping
    return late >= rule.min_late_orders and late >= rule.late_rate * due


def calendar_year(policy: Policy, moment: datetime) -> int:
    """The year of ``moment`` in the policy's calendar: points count in the year their
    violation occurred in, whenever they are booked."""
    return moment.astimezone(ZoneInfo(policy.calendar_timezone)).year


def closes_subject(policy: Policy, year_total: int) -> bool:
    return year_total >= policy.closure_points


def closure_evidence(year: int, total: int) -> Evidence:
    return Evidence(
        source_type="points_ledger", source_id=f"{year}", text=f"{total} points booked in {year}"
    )


def check_appealable(code: str, status: str, deadline: datetime, now: datetime) -> None:
    """Refuse an appeal against a closure by points (final), one filed after the window, or
    one against a revoked penalty. A penalty whose timed measures already ran out (expired)
    can still be appealed within the window: its points are still to be booked."""
    if code == CLOSURE_CODE:
        raise Conflict(
            "a closure by points is final: appeal the penalties whose points led to it",
            reason="closure_final",
        )
    if now >= deadline:
        raise Conflict(
            f"the appeal window closed at {deadline.isoformat()}", reason="appeal_window_closed"
        )
    if status == "revoked":
        raise Conflict("the penalty is revoked", reason="not_active")


def report_charges(
    policy: Policy, report: dict[str, Any], sale: dict[str, Any] | None
) -> list[tuple[str, Subject]]:
    """Whom an upheld report charges, with which code: its subject (a shop is its own shop;
    an anchor's or creator's penalty reaches no shop: the shop the reporter named is only
    their word); and for a report by the buyer of an order against the creator who sold it
    through distribution (达人分销), the shop that supplied it, as moderation saw the order
    paid, with the policy's supplier code for that kind."""
    subject_type, subject_id = report["subject_type"], report["subject_id"]
    own_shop = subject_id if subject_type == "shop" else None
    charged = [(report["kind"], Subject(subject_type, subject_id, own_shop))]
    supplier_code = policy.distribution.supplier_codes.get(report["kind"])
    sold_by_creator = (
        sale is not None
        and subject_type == "creator"
        and sale["creator_id"] == subject_id
        and sale["buyer_id"] == report["reporter_id"]
        and report["product_id"] in (None, sale["product_id"])
    )
    if supplier_code and sale is not None and sold_by_creator:
        charged.append((supplier_code, Subject("shop", sale["shop_id"], sale["shop_id"])))
    return charged


def report_evidence(report_id: str, product_id: str | None, text: str) -> Evidence:
    """An upheld report's evidence: the product reported, else the report itself."""
    source = ("product", product_id) if product_id else ("report", report_id)
    return Evidence(
        source_type=source[0], source_id=source[1], text=text, matched_rule=f"report:{report_id}"
    )


def current_measures(penalties: Iterable[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The measures of active penalties (``measures`` decoded) that have not run out."""
    current = []
    for p in penalties:
        if p["status"] != "active":
            continue
        for m in p["measures"]:
            until = m.get("until")
            if until is None or datetime.fromisoformat(until) > now:
                current.append({**m, "penalty_id": p["penalty_id"]})
    return current
