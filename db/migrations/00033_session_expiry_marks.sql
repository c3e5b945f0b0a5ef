-- +goose Up
-- The session-expiry sweep (internal/expiry) keeps one watermark per threshold, each its own
-- row, so the Expirado and the Expirando scans run as two transactions at the same time on two
-- connections (two cores) instead of taking turns behind one row. Each row is locked by the
-- transaction that reads its range and moves it with its events, so each event still goes out
-- once however many processes sweep. In the steady state the two streams are the same size:
-- every session that runs out passes both thresholds, 30 minutes apart.
CREATE TABLE session_expiry_marks (
    -- true: sessions ended (Expirado); false: sessions within the warning (Expirando).
    ended    boolean PRIMARY KEY,
    -- The events are emitted for sessions whose (service_expires_at, id) lies after these.
    after_at timestamptz NOT NULL,
    after_id uuid NOT NULL
);
INSERT INTO session_expiry_marks (ended, after_at, after_id)
SELECT true, expired_at, expired_id FROM session_expiry_sweep
UNION ALL
SELECT false, expiring_at, expiring_id FROM session_expiry_sweep;
DROP TABLE session_expiry_sweep;

-- +goose Down
CREATE TABLE session_expiry_sweep (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    expired_at  timestamptz NOT NULL,
    expired_id  uuid NOT NULL,
    expiring_at timestamptz NOT NULL,
    expiring_id uuid NOT NULL
);
INSERT INTO session_expiry_sweep (expired_at, expired_id, expiring_at, expiring_id)
SELECT e.after_at, e.after_id, x.after_at, x.after_id
FROM session_expiry_marks e, session_expiry_marks x WHERE e.ended AND NOT x.ended;
DROP TABLE session_expiry_marks;
