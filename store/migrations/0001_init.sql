-- 0001: alerts, incidents, incident entities, timeline and the audit log.
--
-- Times are INTEGER unix nanoseconds in UTC; NULL stands for the zero time.
-- JSON columns (entities, labels, data, detail, raw) are TEXT; NULL stands for none.
-- There are no foreign keys: every write goes through the single writer, which keeps
-- the references consistent, and a foreign-key check would cost an index probe per row.

CREATE TABLE alerts (
	id          INTEGER PRIMARY KEY,
	incident_id INTEGER,            -- NULL until the alert joins an incident
	source      TEXT    NOT NULL,
	format      TEXT    NOT NULL,
	source_ref  TEXT    NOT NULL DEFAULT '',
	rule        TEXT    NOT NULL DEFAULT '',
	title       TEXT    NOT NULL DEFAULT '',
	severity    INTEGER NOT NULL DEFAULT 0, -- 0 unknown .. 5 critical
	category    TEXT    NOT NULL DEFAULT '',
	status      TEXT    NOT NULL DEFAULT '',
	event_time  INTEGER,
	received_at INTEGER,
	entities    TEXT,               -- JSON [{"kind","value","role"}]
	labels      TEXT,               -- JSON {"name":"value"}
	url         TEXT    NOT NULL DEFAULT '',
	fingerprint TEXT    NOT NULL DEFAULT '',
	drill_id    TEXT    NOT NULL DEFAULT '',
	raw         TEXT
);
CREATE INDEX alerts_incident   ON alerts (incident_id);
CREATE INDEX alerts_event_time ON alerts (event_time);

CREATE TABLE incidents (
	id              INTEGER PRIMARY KEY,
	number          TEXT    NOT NULL,
	title           TEXT    NOT NULL DEFAULT '',
	kind            TEXT    NOT NULL DEFAULT 'normal',
	status          TEXT    NOT NULL,
	severity        INTEGER NOT NULL DEFAULT 0,
	category        TEXT    NOT NULL DEFAULT '',
	notifiable      INTEGER NOT NULL DEFAULT 0,
	alert_count     INTEGER NOT NULL DEFAULT 0,
	first_seen      INTEGER,
	last_seen       INTEGER,
	opened_at       INTEGER,
	acknowledged_at INTEGER,
	contained_at    INTEGER,
	resolved_at     INTEGER,
	closed_at       INTEGER,
	merged_into     INTEGER NOT NULL DEFAULT 0,
	commander       TEXT    NOT NULL DEFAULT '',
	drill_id        TEXT    NOT NULL DEFAULT '',
	updated_at      INTEGER
);
CREATE INDEX incidents_status   ON incidents (status);
CREATE INDEX incidents_severity ON incidents (severity);
CREATE INDEX incidents_kind     ON incidents (kind);

-- The rowid keeps the order in which an incident's entities were first seen.
CREATE TABLE incident_entities (
	incident_id INTEGER NOT NULL,
	kind        TEXT    NOT NULL,
	value       TEXT    NOT NULL,
	role        TEXT    NOT NULL DEFAULT '',
	UNIQUE (incident_id, kind, value, role)
);

CREATE TABLE timeline (
	id          INTEGER PRIMARY KEY,
	incident_id INTEGER NOT NULL,
	at          INTEGER,
	actor       TEXT    NOT NULL DEFAULT '',
	kind        TEXT    NOT NULL DEFAULT '',
	text        TEXT    NOT NULL DEFAULT '',
	data        TEXT
);
CREATE INDEX timeline_incident ON timeline (incident_id);

-- Append-only and hash-chained: hash = sha256(prev_hash || canonical entry), hex.
CREATE TABLE audit (
	seq       INTEGER PRIMARY KEY,
	at        INTEGER NOT NULL,
	actor     TEXT    NOT NULL DEFAULT '',
	action    TEXT    NOT NULL DEFAULT '',
	subject   TEXT    NOT NULL DEFAULT '',
	detail    TEXT,
	prev_hash TEXT    NOT NULL,
	hash      TEXT    NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: rows cannot be updated');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only: rows cannot be deleted');
END;
