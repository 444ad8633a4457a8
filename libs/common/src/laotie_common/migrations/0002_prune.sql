-- Housekeeping prunes processed_events by age (laotie_common.housekeeping).
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);
