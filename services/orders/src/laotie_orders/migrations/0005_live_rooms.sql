-- The live rooms as the orders service hears of them (`live.room`): who owns each room and
-- which session is live in it. A live-room order is accepted only for a room live at that
-- moment, and is credited to the room's owner, never to an anchor the buyer names.
CREATE TABLE live_rooms (
    room_id     text PRIMARY KEY,
    owner_type  text NOT NULL,
    owner_id    text NOT NULL,
    shop_id     text,
    session_id  text,           -- the live session, NULL between sessions
    updated_at  timestamptz NOT NULL
);
