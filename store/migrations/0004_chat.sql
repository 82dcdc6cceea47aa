-- 0004: the chat layer: incident rooms per platform, the outbox of platform operations,
-- button tokens, incident commanders, and the rooms and messages of the built-in web chat.
--
-- Times are INTEGER unix nanoseconds in UTC, as in 0001.

-- One room per incident and platform. The row is written (with an empty room_id) in
-- the same transaction that queues the room's creation, so the intent survives a
-- crash; room_id is filled in once the platform has created the room.
CREATE TABLE chat_rooms (
	platform    TEXT    NOT NULL,
	incident_id INTEGER NOT NULL,
	name        TEXT    NOT NULL,
	room_id     TEXT    NOT NULL DEFAULT '',
	closed      INTEGER NOT NULL DEFAULT 0, -- the incident is final and fully shown
	state       TEXT,                       -- JSON bookkeeping of package bot
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (platform, incident_id),
	UNIQUE (platform, name)
);
CREATE INDEX chat_rooms_room ON chat_rooms (platform, room_id);

-- The platform's id of each message posted in a room, by the message's key.
CREATE TABLE chat_messages (
	platform    TEXT    NOT NULL,
	incident_id INTEGER NOT NULL,
	key         TEXT    NOT NULL,
	message_id  TEXT    NOT NULL,
	posted_at   INTEGER NOT NULL,
	PRIMARY KEY (platform, incident_id, key)
);

-- Platform operations waiting for delivery, in order per room (platform, incident_id).
-- A delivered operation is deleted. AUTOINCREMENT keeps ids, and so the order, from
-- ever being reused. rev grows when a queued message is replaced by a newer version.
CREATE TABLE chat_outbox (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	platform    TEXT    NOT NULL,
	incident_id INTEGER NOT NULL,
	kind        TEXT    NOT NULL,
	key         TEXT    NOT NULL DEFAULT '',
	payload     TEXT    NOT NULL,
	rev         INTEGER NOT NULL DEFAULT 1,
	attempts    INTEGER NOT NULL DEFAULT 0,
	next_at     INTEGER NOT NULL,
	last_error  TEXT    NOT NULL DEFAULT '',
	dead        INTEGER NOT NULL DEFAULT 0, -- refused for good by the platform; kept for inspection
	created_at  INTEGER NOT NULL
);
CREATE INDEX chat_outbox_queue ON chat_outbox (platform, dead, incident_id, id);
CREATE INDEX chat_outbox_key ON chat_outbox (platform, incident_id, kind, key);

-- Buttons carry only an opaque token; this maps it to what it does.
CREATE TABLE chat_buttons (
	token       TEXT    PRIMARY KEY,
	incident_id INTEGER NOT NULL,
	verb        TEXT    NOT NULL,
	subject     TEXT    NOT NULL DEFAULT '',
	data        TEXT,
	created_at  INTEGER NOT NULL,
	UNIQUE (incident_id, verb, subject)
);

-- The incident commander named in chat (assign @user).
CREATE TABLE incident_commanders (
	incident_id INTEGER PRIMARY KEY,
	commander   TEXT    NOT NULL,
	set_by      TEXT    NOT NULL DEFAULT '',
	set_at      INTEGER NOT NULL
);

-- The built-in web chat's own rooms and messages.
CREATE TABLE local_rooms (
	id          INTEGER PRIMARY KEY,
	name        TEXT    NOT NULL UNIQUE,
	topic       TEXT    NOT NULL DEFAULT '',
	incident_id INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	archived_at INTEGER
);

CREATE TABLE local_messages (
	id         INTEGER PRIMARY KEY,
	room_id    INTEGER NOT NULL,
	key        TEXT    NOT NULL UNIQUE, -- idempotency key: a repeated post returns the first
	body       TEXT    NOT NULL,        -- the message as JSON
	rev        INTEGER NOT NULL DEFAULT 1,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX local_messages_room ON local_messages (room_id, id);
