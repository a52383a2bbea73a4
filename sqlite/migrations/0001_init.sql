-- Topic streams. seq is per topic, starts at 1 and has no gaps; last_seq is
-- the head and trimmed_seq the highest seq dropped by retention.
CREATE TABLE topics (
	topic       TEXT    NOT NULL PRIMARY KEY,
	last_seq    INTEGER NOT NULL,
	trimmed_seq INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE events (
	topic TEXT    NOT NULL,
	seq   INTEGER NOT NULL,
	id    TEXT    NOT NULL,
	event TEXT    NOT NULL,
	data  BLOB    NOT NULL,
	time  INTEGER NOT NULL, -- unix nanoseconds
	PRIMARY KEY (topic, seq)
) WITHOUT ROWID;

CREATE INDEX events_time ON events (time);

-- Inbox items. user_id is NULL for a broadcast, stored once for every user.
-- read_at is used for personal items only; broadcasts keep per-user state in
-- bstate. ids are ULIDs, so ORDER BY id is creation order.
CREATE TABLE notifications (
	id       TEXT    NOT NULL PRIMARY KEY,
	user_id  TEXT,
	category TEXT    NOT NULL,
	title    TEXT    NOT NULL,
	body     TEXT    NOT NULL,
	url      TEXT    NOT NULL,
	data     BLOB,
	time     INTEGER NOT NULL, -- unix nanoseconds
	read_at  INTEGER
) WITHOUT ROWID;

CREATE INDEX notifications_user ON notifications (user_id, id);

-- Unread counters, changed only by the single writer so they stay exact:
-- a user's unread count of a category is
--   counts.n + bcounts.n - bseen.n
-- counts:  the user's unread personal items;
-- bcounts: broadcasts sent, for everybody;
-- bseen:   broadcasts the user has read or deleted.
CREATE TABLE counts (
	user_id  TEXT    NOT NULL,
	category TEXT    NOT NULL,
	n        INTEGER NOT NULL,
	PRIMARY KEY (user_id, category)
) WITHOUT ROWID;

CREATE TABLE bcounts (
	category TEXT    NOT NULL PRIMARY KEY,
	n        INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE bseen (
	user_id  TEXT    NOT NULL,
	category TEXT    NOT NULL,
	n        INTEGER NOT NULL,
	PRIMARY KEY (user_id, category)
) WITHOUT ROWID;

-- A user's state of one broadcast: 1 read, 2 deleted. No row means unread.
CREATE TABLE bstate (
	user_id TEXT    NOT NULL,
	nid     TEXT    NOT NULL,
	state   INTEGER NOT NULL,
	PRIMARY KEY (user_id, nid)
) WITHOUT ROWID;
