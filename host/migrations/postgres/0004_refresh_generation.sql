-- OAuth2 refresh across replicas: the credential's generation (bumped by every refresh
-- and reconnect, never by a key rotation), so a refresh's lease and its write name the
-- generation they read; when the current token was issued, so the refresh margin scales
-- with its lifetime; and who holds the refresh lease, so only the holder renews it and an
-- abandoned lease is told apart from a released one. Keep in step with ../sqlite/.

ALTER TABLE connections ADD COLUMN credential_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN token_issued_at BIGINT;
ALTER TABLE connections ADD COLUMN refresh_lease_holder TEXT NOT NULL DEFAULT '';
