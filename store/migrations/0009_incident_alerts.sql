-- 0009: ingest performance. The alerts_incident index put the newest alert of every
-- incident a commit touched on its own index leaf: with single-alert requests into a
-- few busy incidents, more than half the pages a commit wrote to the WAL. It is
-- replaced by incident_alerts, the same (incident, alert) pairs kept by the writer
-- itself, behind the alerts: every few hundred alerts it copies the pairs of the
-- alerts inserted since into incident_alerts, in the transaction that moves
-- incident_alerts_mark.through to the newest of them. An incident's alerts are then
-- the pairs of incident_alerts up to the mark and the alerts after it whose
-- incident_id names it (a short range of rowids). alerts.incident_id stays the truth.
CREATE TABLE incident_alerts (
	incident_id INTEGER NOT NULL,
	alert_id    INTEGER NOT NULL,
	PRIMARY KEY (incident_id, alert_id)
) WITHOUT ROWID;

CREATE TABLE incident_alerts_mark (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	through INTEGER NOT NULL -- every alert with id <= through that has an incident is in incident_alerts
);

INSERT INTO incident_alerts (incident_id, alert_id)
	SELECT incident_id, id FROM alerts WHERE incident_id IS NOT NULL ORDER BY incident_id, id;
INSERT INTO incident_alerts_mark (id, through) SELECT 1, COALESCE(MAX(id), 0) FROM alerts;
DROP INDEX alerts_incident;
