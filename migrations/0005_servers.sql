-- Users' Jupyter servers: desired and observed state, sessions for usage accounting, GPU assignments, and quotas.

CREATE TABLE resource_plans (
    name         varchar(32)   PRIMARY KEY,
    cpu_cores    numeric(6, 2) NOT NULL,
    memory_gib   integer       NOT NULL,
    storage_gib  integer       NOT NULL,
    gpu_count    integer       NOT NULL,
    gpu_model    varchar(64),
    is_default   boolean       NOT NULL
);

-- Exactly one plan may be the default.
CREATE UNIQUE INDEX ix_resource_plans_default ON resource_plans (is_default) WHERE is_default;

-- The seed service's plan: 2 vCPU shared, 8 GB memory, 100 GB storage, one GPU.
INSERT INTO resource_plans (name, cpu_cores, memory_gib, storage_gib, gpu_count, gpu_model, is_default)
VALUES ('standard', 2, 8, 100, 1, NULL, true);

CREATE TABLE quota_overrides (
    username     varchar(32)   PRIMARY KEY,
    plan_name    varchar(32)   REFERENCES resource_plans (name),
    cpu_cores    numeric(6, 2),
    memory_gib   integer,
    storage_gib  integer,
    gpu_count    integer,
    gpu_model    varchar(64)
);

CREATE INDEX ix_quota_overrides_plan_name ON quota_overrides (plan_name);

CREATE TABLE user_servers (
    id                  uuid                     PRIMARY KEY,
    username            varchar(32)              NOT NULL,
    backend             varchar(32)              NOT NULL,
    backend_reference   varchar(200),
    url                 varchar(2000),
    cuda_toolkit        varchar(16),
    desired_state       varchar(16)              NOT NULL,
    observed_state      varchar(16)              NOT NULL,
    state_changed_at    timestamp with time zone NOT NULL,
    start_requested_at  timestamp with time zone,
    ready_at            timestamp with time zone,
    last_activity_at    timestamp with time zone,
    idle_warned_at      timestamp with time zone,
    failure_reason      varchar(1000),
    attempts            integer                  NOT NULL,
    last_error          varchar(1000),
    progress_percent    integer                  NOT NULL,
    progress_message    varchar(500),
    current_session_id  uuid,
    version             integer                  NOT NULL,
    CONSTRAINT ck_user_servers_desired CHECK (desired_state IN ('Stopped', 'Running')),
    CONSTRAINT ck_user_servers_observed CHECK (observed_state IN ('Stopped', 'StartPending', 'Running', 'StopPending', 'Failed'))
);

-- One server per user.
CREATE UNIQUE INDEX ix_user_servers_username ON user_servers (username);
CREATE INDEX ix_user_servers_observed_state ON user_servers (observed_state);

-- A GPU index is assigned to at most one server: the primary key is the guarantee.
CREATE TABLE gpu_assignments (
    gpu_index    integer                  PRIMARY KEY,
    server_id    uuid                     NOT NULL REFERENCES user_servers (id),
    assigned_at  timestamp with time zone NOT NULL
);

CREATE INDEX ix_gpu_assignments_server_id ON gpu_assignments (server_id);

CREATE TABLE server_sessions (
    id              uuid                     PRIMARY KEY,
    server_id       uuid                     NOT NULL REFERENCES user_servers (id),
    username        varchar(32)              NOT NULL,
    backend         varchar(32)              NOT NULL,
    requested_at    timestamp with time zone NOT NULL,
    ready_at        timestamp with time zone,
    ended_at        timestamp with time zone,
    outcome         varchar(16)              NOT NULL,
    gpu_count       integer                  NOT NULL,
    cuda_toolkit    varchar(16),
    failure_reason  varchar(1000),
    CONSTRAINT ck_server_sessions_outcome CHECK (outcome IN ('Open', 'Stopped', 'Failed'))
);

CREATE INDEX ix_server_sessions_username_requested_at ON server_sessions (username, requested_at);
CREATE INDEX ix_server_sessions_requested_at ON server_sessions (requested_at);
CREATE INDEX ix_server_sessions_server_id ON server_sessions (server_id);
