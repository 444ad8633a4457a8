"""The metric catalogue: every Prometheus metric Laotie exports, one line of meaning each.

Dashboards and alert rules are generated against these names; a metric that is not here
does not exist. Each process is one service, so no `service` label: Prometheus adds the
job/pod labels from its scrape target.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# --- consumers (RED per consumer group and topic) ---
CONSUMER_RECORDS = Counter(
    "laotie_consumer_records_total",
    "Records a consumer finished, by outcome: applied, duplicate, ignored, dead_lettered.",
    ["consumer", "topic", "event_type", "outcome"],
)
CONSUMER_ERRORS = Counter(
    "laotie_consumer_errors_total",
    "Failed attempts to apply a record, by error class: transient, poison, unknown;"
    " batch_out_of_time when a batch's failing records took half the poll interval and the"
    " rest of their partitions was handed back to be fetched again.",
    ["consumer", "topic", "error_class"],
)
CONSUMER_HANDLE_SECONDS = Histogram(
    "laotie_consumer_handle_seconds",
    "A batch's time from receipt to its offsets marked done, retries included, divided by"
    " its records (each record observes that share).",
    ["consumer", "topic"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_STUCK_RECORDS = Gauge(
    "laotie_consumer_stuck_records",
    "Records left in place (transient errors) for CONSUMER_STUCK_AFTER_CYCLES retry cycles or"
    " more: their partitions do not move. Not dead-lettered: the cause is infrastructure.",
    ["consumer"],
)
CONSUMER_LAG = Gauge(
    "laotie_consumer_lag_records",
    "Records behind the partition's high watermark, per assigned partition.",
    ["consumer", "topic", "partition"],
)
CONSUMER_ASSIGNED_PARTITIONS = Gauge(
    "laotie_consumer_assigned_partitions",
    "Partitions currently assigned to this replica's consumer.",
    ["consumer"],
)
EVENT_AGE_SECONDS = Histogram(
    "laotie_consumer_event_age_seconds",
    "Age of an event when applied: its ce_time to the commit of its effect (end-to-end latency).",
    ["consumer", "topic"],
    buckets=(
        0.005,
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.15,
        0.2,
        0.25,
        0.5,
        1,
        2.5,
        5,
        10,
        30,
        60,
        300,
    ),
)
DEAD_LETTERS = Counter(
    "laotie_dead_letters_total",
    "Records sent to the dead-letter topic, by original topic and reason class.",
    ["consumer", "topic", "reason"],
)

# --- transactional outbox ---
OUTBOX_BACKLOG = Gauge("laotie_outbox_backlog_events", "Outbox rows written but not yet published.")
OUTBOX_OLDEST_AGE = Gauge(
    "laotie_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row (0 if none)."
)
OUTBOX_PUBLISHED = Counter(
    "laotie_outbox_published_total", "Events the relay published to Kafka.", ["topic"]
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "laotie_outbox_publish_failures_total", "Relay batches that failed to publish (retried)."
)
OUTBOX_BATCH_SECONDS = Histogram(
    "laotie_outbox_batch_seconds",
    "Time to publish one relay batch and mark it sent.",
    buckets=LATENCY_BUCKETS,
)
ROWS_PRUNED = Counter(
    "laotie_rows_pruned_total",
    "Plumbing rows deleted after their retention, by table (processed_events, idempotency_keys).",
    ["table"],
)
OUTBOX_PRUNED = Counter("laotie_outbox_pruned_total", "Sent outbox rows pruned after retention.")
OUTBOX_LAST_PUBLISH = Gauge(
    "laotie_outbox_last_publish_timestamp_seconds",
    "Unix time of this replica's last acknowledged relay batch (its start time before one);"
    " with rows waiting, time() minus the job's max is how long publishing has stalled.",
)
OUTBOX_LAST_PUBLISH.set_to_current_time()
RELAY_LEADER = Gauge(
    "laotie_outbox_relay_leader", "1 if this replica holds the relay lock and publishes, else 0."
)

# --- HTTP side (RED per route) ---
HTTP_REQUESTS = Counter(
    "laotie_http_requests_total",
    "HTTP requests served, by route template, method and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "laotie_http_request_seconds",
    "HTTP request latency by route template and method.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "laotie_http_in_flight_requests", "HTTP requests being served now (probes and metrics aside)."
)
HTTP_SHED = Counter(
    "laotie_http_shed_total",
    "Requests refused at once to shed load: past the process's concurrency limit (503) or a"
    " caller's command rate (429).",
    ["reason"],
)
COMMAND_GROUP_SIZE = Histogram(
    "laotie_command_group_size",
    "Commands of one hot lane (a flash sale's SKU) committed together in one transaction.",
    ["kind"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
IDEMPOTENT_REPLAYS = Counter(
    "laotie_http_idempotent_replays_total",
    "Commands answered from the Idempotency-Key store instead of being run again.",
    ["route"],
)

# --- readiness ---
DEPENDENCY_UP = Gauge(
    "laotie_dependency_up", "1 if the last readiness probe reached the dependency.", ["dependency"]
)

# --- orders (business) ---
ORDERS = Counter(
    "laotie_orders_total",
    "Orders reaching a status, by sales channel (placed, paid, shipped, ..., cancelled).",
    ["channel", "status"],
)
ORDERS_GMV_FEN = Counter(
    "laotie_orders_gmv_fen_total", "Value of paid orders in fen (GMV), by channel.", ["channel"]
)
ORDERS_REFUNDED_FEN = Counter(
    "laotie_orders_refunded_fen_total", "Money refunded to buyers in fen, by channel.", ["channel"]
)
ORDER_REJECTIONS = Counter(
    "laotie_orders_rejected_total",
    "Order placements refused, by reason (out_of_stock, limit_exceeded, sale_ended, ...).",
    ["reason"],
)
ORDER_DEADLINES_FIRED = Counter(
    "laotie_orders_deadlines_fired_total",
    "Automatic steps taken by the deadline sweeper, by deadline.",
    ["deadline"],
)

# --- live (business) ---
LIVE_SESSIONS = Gauge(
    "laotie_live_sessions", "Live sessions running now (sampled by each replica)."
)
LIVE_SESSIONS_STARTED = Counter(
    "laotie_live_sessions_started_total",
    "Live sessions started, by room owner type.",
    ["owner_type"],
)
LIVE_SESSIONS_ENDED = Counter(
    "laotie_live_sessions_ended_total",
    "Live sessions ended, by reason (owner, force_closed).",
    ["reason"],
)
LIVE_VIEWER_EVENTS = Counter(
    "laotie_live_viewer_events_total",
    "Viewer join/leave events ingested, by outcome (applied, duplicate).",
    ["action", "outcome"],
)
LIVE_COMMENTS = Counter(
    "laotie_live_comments_total",
    "Comments posted, by author role (viewer, owner).",
    ["author_role"],
)
LIVE_COMMENTS_HIDDEN = Counter(
    "laotie_live_comments_hidden_total", "Comments hidden after a moderation violation."
)
LIVE_ROOM_GMV_FEN = Counter(
    "laotie_live_room_gmv_fen_total", "Paid order value attributed to live sessions, in fen."
)

# --- moderation (business) ---
MODERATION_VIOLATIONS = Counter(
    "laotie_moderation_violations_total",
    "Violations decided, by code and severity.",
    ["code", "severity"],
)
MODERATION_PENALTIES = Counter(
    "laotie_moderation_penalty_measures_total", "Penalty measures imposed, by kind.", ["measure"]
)
MODERATION_APPEALS = Counter(
    "laotie_moderation_appeals_total",
    "Appeals decided, by outcome (upheld, rejected).",
    ["outcome"],
)
MODERATION_DETECTION_SECONDS = Histogram(
    "laotie_moderation_detection_latency_seconds",
    "From the offending content's own time to the committed decision on it.",
    ["source"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

# --- scoring (business) ---
SCORE_RECOMPUTATIONS = Counter(
    "laotie_scoring_recomputations_total", "Score computations, by kind.", ["kind"]
)
SCORE_SUBJECTS = Gauge(
    "laotie_scoring_subjects",
    "Scored subjects by kind and band (the score distribution).",
    ["kind", "band"],
)
SCORE_LAG_SECONDS = Histogram(
    "laotie_scoring_fact_to_score_seconds",
    "From an order fact's own time to the committed score it moved.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

# --- chuanliu (business) ---
CHUANLIU_IMPRESSIONS = Counter(
    "laotie_chuanliu_impressions_granted_total", "Impressions granted to buyers by Chuanliu."
)
CHUANLIU_BUDGET_LEFT = Gauge(
    "laotie_chuanliu_budget_left_impressions", "Impressions left in today's budget."
)
CHUANLIU_BUDGET_GRANTABLE = Gauge(
    "laotie_chuanliu_budget_grantable_impressions",
    "Impressions the pacing lets be granted right now.",
)
CHUANLIU_REFUSALS = Counter(
    "laotie_chuanliu_refusals_total",
    "Grants or rewards refused, by reason (brand_band, brand_under_penalty, budget_spent, ...).",
    ["reason"],
)
CHUANLIU_ATTRIBUTED_FEN = Counter(
    "laotie_chuanliu_attributed_gmv_fen_total", "Self-broadcast GMV attributed to Chuanliu, fen."
)
