-- Score policy 2026.12-1 leaves some violation codes out of a score's `violations` (those its
-- own indicators already measure: late_shipment, refund_unanswered), so each penalty keeps
-- its code and the window query decides under the policy in force. Penalties recorded
-- before have none (NULL) and count as they did, until they leave the window.
ALTER TABLE penalty_facts ADD COLUMN violation_code text;
