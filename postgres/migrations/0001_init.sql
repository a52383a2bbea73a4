-- Topic streams. seq is per topic, starts at 1 and has no gaps; last_seq is
-- the head and trimmed_seq the highest seq dropped by retention. A write
-- locks the rows of the topics it appends to (sorted, at its start) and
-- allocates seqs under that lock, so seqs commit in order.
CREATE TABLE topics (
	topic       text COLLATE "C" PRIMARY KEY,
	last_seq    bigint NOT NULL,
	trimmed_seq bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 70);

CREATE TABLE events (
	topic text COLLATE "C" NOT NULL,
	seq   bigint NOT NULL,
	id    text COLLATE "C" NOT NULL,
	event text NOT NULL,
	data  bytea NOT NULL,
	time  bigint NOT NULL, -- unix nanoseconds
	PRIMARY KEY (topic, seq)
);

CREATE INDEX events_time ON events (time);

-- Inbox items. user_id is NULL for a broadcast, stored once for every user.
-- read_at is used for personal items only; broadcasts keep per-user state in
-- bstate. ids are ULIDs, so ORDER BY id (byte order) is creation order.
CREATE TABLE notifications (
	id       text COLLATE "C" PRIMARY KEY,
	user_id  text COLLATE "C",
	category text COLLATE "C" NOT NULL,
	title    text NOT NULL,
	body     text NOT NULL,
	url      text NOT NULL,
	data     bytea,
	time     bigint NOT NULL, -- unix nanoseconds
	read_at  bigint
);

CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_user_category ON notifications (user_id, category, id);
CREATE INDEX notifications_unread ON notifications (user_id, id) WHERE read_at IS NULL;

-- Unread counters. Every statement that changes a notification's state
-- changes the matching counter in the same statement, by the number of rows
-- it changed, so they stay exact under any concurrency:
--   unread(user, category) = counts.n + bcounts.n - bseen.n
-- counts:  the user's unread personal items;
-- bcounts: broadcasts sent, for everybody;
-- bseen:   broadcasts the user has read or deleted (= the user's bstate rows).
CREATE TABLE counts (
	user_id  text COLLATE "C" NOT NULL,
	category text COLLATE "C" NOT NULL,
	n        bigint NOT NULL,
	PRIMARY KEY (user_id, category)
);

CREATE TABLE bcounts (
	category text COLLATE "C" PRIMARY KEY,
	n        bigint NOT NULL
);

CREATE TABLE bseen (
	user_id  text COLLATE "C" NOT NULL,
	category text COLLATE "C" NOT NULL,
	n        bigint NOT NULL,
	PRIMARY KEY (user_id, category)
);

-- A user's state of one broadcast: 1 read, 2 deleted. No row means unread.
CREATE TABLE bstate (
	user_id text COLLATE "C" NOT NULL,
	nid     text COLLATE "C" NOT NULL,
	state   smallint NOT NULL,
	PRIMARY KEY (user_id, nid)
);
