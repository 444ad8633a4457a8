-- Rule set 2026.12-1 books a penalty's points even when its measures ended inside the appeal
-- window. Under 2026.11-1 those points lapsed with the measures, and penalties decided then
-- still show them pending: they lapse as that rule said, rather than all being booked (and
-- closing subjects) at the first sweep after this release.
UPDATE penalties SET points_status = 'cancelled'
 WHERE status = 'expired' AND points_status = 'pending';
