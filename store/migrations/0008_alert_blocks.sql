-- 0008: ingest performance. The alerts_event_time index cost every commit a page of
-- WAL (its newest leaf) and was read only when warroom starts, to find the alerts
-- correlation replays. alert_blocks replaces it: one row per block of 4,096 alert ids
-- (id / 4096), written once, when the first alert of a later block is inserted,
-- with the newest event time among the block's alerts. Restoring skips every block
-- whose newest event time is before the window; the block of the newest alerts has no
-- row yet and is always read.
DROP INDEX alerts_event_time;

CREATE TABLE alert_blocks (
	block          INTEGER PRIMARY KEY, -- alert id / 4096
	max_event_time INTEGER              -- NULL when no alert of the block has one
);

INSERT INTO alert_blocks (block, max_event_time)
	SELECT id / 4096, MAX(event_time) FROM alerts
	WHERE id / 4096 < (SELECT MAX(id) / 4096 FROM alerts)
	GROUP BY id / 4096;
