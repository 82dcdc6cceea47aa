-- 0005: nonces seen from chat platforms (request signatures, event ids), so that a
-- replayed request is refused even across a restart. Rows expire with the platform's
-- own replay window and are purged as new ones arrive.
--
-- Times are INTEGER unix nanoseconds in UTC, as in 0001.
CREATE TABLE nonces (
	scope      TEXT    NOT NULL, -- e.g. "slack:signature", "slack:event"
	key        TEXT    NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX nonces_expiry ON nonces (expires_at);
