-- The schema reschedule-bot built before its Alembic revisions (schema_version 10), as sqlite DDL (frozen).
CREATE TABLE schema_version (
	version INTEGER NOT NULL
);

CREATE TABLE audit_events (
	id INTEGER NOT NULL,
	at DATETIME NOT NULL,
	team_id VARCHAR(32) NOT NULL,
	user_id VARCHAR(32) NOT NULL,
	channel_id VARCHAR(32),
	surface VARCHAR(16) NOT NULL,
	environment VARCHAR(64),
	run_id VARCHAR(64),
	task VARCHAR(255),
	previous_time DATETIME,
	new_time DATETIME,
	input TEXT NOT NULL,
	outcome VARCHAR(32) NOT NULL,
	error TEXT,
	user_team_id VARCHAR(32),
	enterprise_id VARCHAR(32),
	request_id VARCHAR(64),
	PRIMARY KEY (id)
);

CREATE INDEX ix_audit_events_run_at ON audit_events (run_id, at);

CREATE INDEX ix_audit_events_user_at ON audit_events (user_id, at);

CREATE TABLE seen_requests (
	"key" VARCHAR(255) NOT NULL,
	seen_at DATETIME NOT NULL,
	PRIMARY KEY ("key")
);

CREATE INDEX ix_seen_requests_seen_at ON seen_requests (seen_at);

CREATE TABLE bulk_sets (
	"key" VARCHAR(64) NOT NULL,
	user_id VARCHAR(32) NOT NULL,
	team_id VARCHAR(32) NOT NULL,
	runs TEXT NOT NULL,
	when_at DATETIME,
	created_at DATETIME NOT NULL,
	thread_ts VARCHAR(32),
	PRIMARY KEY ("key")
);

CREATE INDEX ix_bulk_sets_created_at ON bulk_sets (created_at);

CREATE TABLE digest_posts (
	slot DATETIME NOT NULL,
	posted_by VARCHAR(128) NOT NULL,
	at DATETIME NOT NULL,
	PRIMARY KEY (slot)
);

CREATE TABLE follow_ups (
	id INTEGER NOT NULL,
	channel VARCHAR(32) NOT NULL,
	ts VARCHAR(32) NOT NULL,
	run_id VARCHAR(64) NOT NULL,
	environment VARCHAR(64) NOT NULL,
	shown_until DATETIME NOT NULL,
	shown_status VARCHAR(32) NOT NULL,
	card TEXT NOT NULL,
	check_at DATETIME NOT NULL,
	lease_until DATETIME,
	lease_token VARCHAR(32),
	created_at DATETIME NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_follow_ups_check_at ON follow_ups (check_at);

CREATE INDEX ix_follow_ups_run ON follow_ups (run_id);

CREATE UNIQUE INDEX ux_follow_ups_message ON follow_ups (channel, ts);

CREATE TABLE home_views (
	team_id VARCHAR(32) NOT NULL,
	user_id VARCHAR(32) NOT NULL,
	last_opened_at DATETIME NOT NULL,
	PRIMARY KEY (team_id, user_id)
);

CREATE INDEX ix_home_views_last_opened_at ON home_views (last_opened_at);

CREATE TABLE outbox (
	id INTEGER NOT NULL,
	team_id VARCHAR(32) NOT NULL,
	user_id VARCHAR(32) NOT NULL,
	text TEXT NOT NULL,
	blocks TEXT,
	error VARCHAR(64) NOT NULL,
	created_at DATETIME NOT NULL,
	next_attempt_at DATETIME NOT NULL,
	attempts INTEGER NOT NULL,
	lease_until DATETIME,
	lease_token VARCHAR(32),
	PRIMARY KEY (id)
);

CREATE INDEX ix_outbox_next_attempt_at ON outbox (next_attempt_at);

INSERT INTO schema_version (version) VALUES (10);
