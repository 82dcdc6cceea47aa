-- 0002: the queue of events waiting for delivery to the SIEM sinks.
--
-- One row per event and sink; a row is deleted once its sink accepted the event.
-- AUTOINCREMENT keeps ids from ever being reused, so an acknowledgement repeated after
-- a lost answer cannot delete a newer row that took a freed id.

CREATE TABLE sink_queue (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	sink        TEXT    NOT NULL,
	enqueued_at INTEGER NOT NULL, -- unix nanoseconds
	payload     TEXT    NOT NULL  -- the event as JSON
);
CREATE INDEX sink_queue_sink ON sink_queue (sink, id);
