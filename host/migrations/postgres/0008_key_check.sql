-- The key check: one known value sealed under the key the store's data is sealed
-- with, so a server started with another key refuses to start instead of sealing new
-- rows under it. Keep in step with ../sqlite/.

CREATE TABLE key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key_version TEXT NOT NULL,
    nonce       BYTEA NOT NULL,
    ciphertext  BYTEA NOT NULL,
    updated_at  BIGINT NOT NULL
);
