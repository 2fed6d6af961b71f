-- Pieces installed as data (`thinkfleet piece install`, `POST /admin/pieces`): the
-- component's bytes with its SHA-256 and version, one row per piece name; the history
-- of installs, upgrades and uninstalls with who did them; and one generation counter,
-- bumped in the same transaction as every change, which each replica polls to know
-- when to load the rows again. Keep in step with ../postgres/.

CREATE TABLE installed_pieces (
    name         TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    component    BLOB NOT NULL,
    installed_at BIGINT NOT NULL,
    installed_by TEXT NOT NULL
);

CREATE TABLE piece_events (
    generation       BIGINT PRIMARY KEY,
    at               BIGINT NOT NULL,
    action           TEXT NOT NULL,
    name             TEXT NOT NULL,
    version          TEXT,
    sha256           TEXT,
    previous_version TEXT,
    previous_sha256  TEXT,
    actor            TEXT NOT NULL
);

CREATE TABLE piece_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO piece_generation (id, generation) VALUES (1, 0);
