-- 0006: the current narrative of each incident (triage/narrate): the text rooms show,
-- who wrote it (a model or the template), the validated structured answer, and what
-- it cost: latency and tokens. One row per incident, replaced when a newer narrative
-- is written.
--
-- Times are INTEGER unix nanoseconds in UTC, as in 0001.
CREATE TABLE narratives (
	incident_id       INTEGER PRIMARY KEY,
	source            TEXT    NOT NULL,             -- "ai" or "template"
	model             TEXT    NOT NULL DEFAULT '',
	text              TEXT    NOT NULL,
	result            TEXT    NOT NULL DEFAULT '',  -- the validated answer, JSON
	fingerprint       TEXT    NOT NULL DEFAULT '',  -- the incident facts it was written from
	latency_ns        INTEGER NOT NULL DEFAULT 0,
	prompt_tokens     INTEGER NOT NULL DEFAULT 0,
	completion_tokens INTEGER NOT NULL DEFAULT 0,
	dropped           INTEGER NOT NULL DEFAULT 0,   -- answer items dropped by validation
	note              TEXT    NOT NULL DEFAULT '',  -- e.g. why the template was kept
	created_at        INTEGER NOT NULL
);
