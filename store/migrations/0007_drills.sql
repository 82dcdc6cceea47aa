-- 0007: gap drills. One row per drill run (scheduled, started by hand, or missed
-- because warroom was down at its scheduled time), with the measures computed from
-- the incident's stored timestamps when the run ends; and, per schedule, the time up
-- to which its fires have been accounted for, so fires missed while warroom was down
-- are found at the next start.
--
-- Times are INTEGER unix nanoseconds in UTC, as in 0001; NULL stands for none.
CREATE TABLE drill_runs (
	id           TEXT    PRIMARY KEY,        -- the run id, also the alerts' drill_id
	scenario     TEXT    NOT NULL,
	schedule     TEXT    NOT NULL DEFAULT '', -- the schedule's name; empty when started by hand
	trigger      TEXT    NOT NULL DEFAULT '', -- schedule, command, cli or api, with the actor
	status       TEXT    NOT NULL,            -- running, completed, timed_out, failed, missed
	scheduled_at INTEGER,                     -- the schedule's time (before jitter)
	started_at   INTEGER,
	finished_at  INTEGER,
	timeout      INTEGER NOT NULL DEFAULT 0,  -- nanoseconds
	incident_id  INTEGER NOT NULL DEFAULT 0,
	measures     TEXT,                        -- JSON, see drill.Measures
	error        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX drill_runs_started  ON drill_runs (started_at);
CREATE INDEX drill_runs_scenario ON drill_runs (scenario, started_at);
CREATE INDEX drill_runs_status   ON drill_runs (status);

CREATE TABLE drill_schedules (
	name         TEXT    PRIMARY KEY,
	spec         TEXT    NOT NULL,
	checked_to   INTEGER NOT NULL -- every fire at or before this time is accounted for
) WITHOUT ROWID;
