-- Personal access tokens for the REST API (/api/v1). Only a SHA-256 of each token is kept.

CREATE TABLE access_tokens (
    id           uuid                     PRIMARY KEY,
    name         varchar(100)             NOT NULL,
    owner        varchar(32)              NOT NULL,
    scopes       integer                  NOT NULL,
    prefix       varchar(16)              NOT NULL,
    secret_hash  varchar(64)              NOT NULL,
    created_by   varchar(32)              NOT NULL,
    created_at   timestamp with time zone NOT NULL,
    expires_at   timestamp with time zone NOT NULL,
    revoked_at   timestamp with time zone,
    revoked_by   varchar(32),
    last_used_at timestamp with time zone,
    CONSTRAINT ck_access_tokens_scopes CHECK (scopes > 0)
);

CREATE UNIQUE INDEX ix_access_tokens_secret_hash ON access_tokens (secret_hash);
CREATE INDEX ix_access_tokens_owner ON access_tokens (owner);
CREATE INDEX ix_access_tokens_created_at ON access_tokens (created_at);
