"""HTTP entry points of the scoring service: scores, their history, the policy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from laotie_common.problems import NotFound
from laotie_common.service import Service

from laotie_scoring.domain import ScorePolicy
from laotie_scoring.store import counts_dict, shanghai_day, window_counts

KindParam = Literal["shop", "product", "creator"]


def scoring_router(service: Service, policy: ScorePolicy) -> APIRouter:
    router = APIRouter(tags=["scores"])

    @router.get(
        "/scores/{kind}/{subject_id}",
        summary="A subject's score: value, band, components, window, policy version",
    )
    async def get_score(kind: KindParam, subject_id: str) -> dict[str, Any]:
        async with service.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM scores WHERE kind = $1 AND subject_id = $2", kind, subject_id
            )
            today = shanghai_day(policy, datetime.now(UTC))
            counts = await window_counts(conn, policy, kind, subject_id, today)
        rules = policy.kinds[kind]
        window = {
            "days": policy.window_days,
            "end": today.isoformat(),
            "matured_after_days": policy.matured_after_days,
        }
        if row is None or counts.orders < rules.min_sample_orders:
            if counts.orders == 0 and row is None:
                raise NotFound(f"no orders known for {kind} {subject_id}")
            return {
                "kind": kind,
                "subject_id": subject_id,
                "status": "not_enough_data",
                "sample_orders": counts.orders,
                "min_sample_orders": rules.min_sample_orders,
                "window": window,
                "policy_version": policy.version,
            }
        band = rules.band(float(row["value"]))
        return {
            "kind": kind,
            "subject_id": subject_id,
            "status": "scored",
            "value": float(row["value"]),
            "band": row["band"],
            "components": json.loads(row["components"]),
            "counts": counts_dict(counts),
            "sample_orders": row["sample_orders"],
            "window": window,
            "policy_version": row["policy_version"],
            "computed_at": row["computed_at"],
            "resources": {
                "traffic_weight": band.traffic_weight,
                "subsidy": band.subsidy,
                "campaigns": band.campaigns,
                "paid_promotion": band.paid_promotion,
                "chuanliu": band.chuanliu,
            },
        }

    @router.get("/scores/{kind}/{subject_id}/history", summary="Every change, oldest first")
    async def history(
        kind: KindParam, subject_id: str, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> list[dict[str, Any]]:
        rows = await service.pool.fetch(
            "SELECT value, band, components, sample_orders, window_end, policy_version,"
            " computed_at FROM score_history WHERE kind = $1 AND subject_id = $2"
            " ORDER BY computed_at LIMIT $3",
            kind,
            subject_id,
            limit,
        )
        return [
            {**dict(r), "value": float(r["value"]), "components": json.loads(r["components"])}
            for r in rows
        ]

    @router.get("/scores", summary="Scored subjects of a kind, best first")
    async def list_scores(
        kind: KindParam, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        rows = await service.pool.fetch(
            "SELECT kind, subject_id, value, band, sample_orders, computed_at FROM scores"
            " WHERE kind = $1 ORDER BY value DESC LIMIT $2",
            kind,
            limit,
        )
        return [{**dict(r), "value": float(r["value"])} for r in rows]

    @router.get("/policy", summary="The active score policy and its version")
    async def get_policy() -> dict[str, Any]:
        return policy.model_dump()

    return router
