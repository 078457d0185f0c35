-- Announcements shown to everyone signed in during their window, and the portal-wide maintenance switch.

CREATE TABLE announcements (
    id          uuid                     PRIMARY KEY,
    severity    varchar(16)              NOT NULL,
    text_en     varchar(1000)            NOT NULL,
    text_ja     varchar(1000)            NOT NULL,
    starts_at   timestamp with time zone NOT NULL,
    ends_at     timestamp with time zone NOT NULL,
    created_by  varchar(32)              NOT NULL,
    created_at  timestamp with time zone NOT NULL,
    updated_by  varchar(32)              NOT NULL,
    updated_at  timestamp with time zone NOT NULL,
    version     integer                  NOT NULL,
    CONSTRAINT ck_announcements_severity CHECK (severity IN ('Info', 'Warning', 'Critical')),
    CONSTRAINT ck_announcements_window CHECK (ends_at > starts_at)
);

CREATE INDEX ix_announcements_ends_at_starts_at ON announcements (ends_at, starts_at);

-- One row (id 1): on or off, the message people see, who set it and when.
CREATE TABLE maintenance_mode (
    id          integer                  PRIMARY KEY,
    enabled     boolean                  NOT NULL,
    message_en  varchar(1000)            NOT NULL,
    message_ja  varchar(1000)            NOT NULL,
    set_by      varchar(32)              NOT NULL,
    set_at      timestamp with time zone NOT NULL,
    version     integer                  NOT NULL,
    CONSTRAINT ck_maintenance_mode_single_row CHECK (id = 1)
);

INSERT INTO maintenance_mode (id, enabled, message_en, message_ja, set_by, set_at, version)
VALUES (1, false, '', '', '(system)', '2026-01-01T00:00:00Z', 0);
