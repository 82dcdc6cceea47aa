-- 0003: containment actions, the playbook an incident matched, and the entries of the
-- External Dynamic Lists warroom serves.
--
-- Times are INTEGER unix nanoseconds in UTC (NULL for none); durations are INTEGER
-- nanoseconds; policy and approvals are JSON text.

CREATE TABLE actions (
	id              INTEGER PRIMARY KEY,
	incident_id     INTEGER NOT NULL,
	playbook        TEXT    NOT NULL DEFAULT '',
	playbook_action TEXT    NOT NULL DEFAULT '',
	kind            TEXT    NOT NULL,
	target          TEXT    NOT NULL,
	connector       TEXT    NOT NULL,
	ttl             INTEGER NOT NULL DEFAULT 0,
	auto            INTEGER NOT NULL DEFAULT 0,
	dry_run         INTEGER NOT NULL DEFAULT 0,
	allow_internal  INTEGER NOT NULL DEFAULT 0,
	pending_review  INTEGER NOT NULL DEFAULT 0,
	note            TEXT    NOT NULL DEFAULT '',
	policy          TEXT    NOT NULL,            -- JSON model.ApprovalPolicy
	state           TEXT    NOT NULL,
	requested_by    TEXT    NOT NULL,
	requested_at    INTEGER,
	approvals       TEXT,                        -- JSON [model.Approval]
	idempotency_key TEXT    NOT NULL UNIQUE,
	diff            TEXT    NOT NULL DEFAULT '',
	result          TEXT    NOT NULL DEFAULT '',
	error           TEXT    NOT NULL DEFAULT '',
	attempts        INTEGER NOT NULL DEFAULT 0,
	verified        INTEGER NOT NULL DEFAULT 0,
	verification    TEXT    NOT NULL DEFAULT '',
	executed_at     INTEGER,
	expires_at      INTEGER,                     -- when the TTL scheduler rolls it back
	reverted_at     INTEGER,
	updated_at      INTEGER
);
CREATE INDEX actions_incident ON actions (incident_id);
CREATE INDEX actions_due      ON actions (state, expires_at);

-- The playbook that matched the incident; written by the actions engine only, so the
-- incident upsert of the correlation engine leaves it alone.
ALTER TABLE incidents ADD COLUMN playbook TEXT;

-- One row per listed prefix of each served EDL.
CREATE TABLE edl_entries (
	list       TEXT    NOT NULL,
	prefix     TEXT    NOT NULL,
	action_id  TEXT    NOT NULL DEFAULT '',
	added_at   INTEGER,
	expires_at INTEGER,
	PRIMARY KEY (list, prefix)
) WITHOUT ROWID;
