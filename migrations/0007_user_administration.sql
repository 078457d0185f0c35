-- User administration (issue #6, part 1): search at scale, suspension with its reason, pending directory changes
-- carried out by the per-user job, credential links for password resets, and optimistic concurrency on quotas.

-- Trigram indexes make the admin search's case-insensitive substring match (lower(x) LIKE '%text%') an index scan.
-- pg_trgm is a trusted extension: the portal's own database role may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX ix_accounts_username_trgm ON accounts USING gin (lower(username) gin_trgm_ops);
CREATE INDEX ix_accounts_display_name_trgm ON accounts USING gin (lower(display_name) gin_trgm_ops);
CREATE INDEX ix_accounts_email_trgm ON accounts USING gin (lower(email) gin_trgm_ops);
-- The filters: role and status together (e.g. suspended admins), department, and the default order.
CREATE INDEX ix_accounts_status_role ON accounts (status, role);
CREATE INDEX ix_accounts_department ON accounts (department);

-- Suspension: why, by whom and when (kept after a reinstatement until the next suspension, for the record).
ALTER TABLE accounts ADD COLUMN suspension_reason varchar(500);
ALTER TABLE accounts ADD COLUMN suspended_by varchar(64);
ALTER TABLE accounts ADD COLUMN suspended_at timestamp with time zone;

-- What the per-user administration job is to carry out in LDAP: the lock follows status (directory_locked is what
-- LDAP was last made to say), a requested role replaces role once the groups are changed.
ALTER TABLE accounts ADD COLUMN directory_locked boolean NOT NULL DEFAULT false;
ALTER TABLE accounts ADD COLUMN requested_role varchar(16);
ALTER TABLE accounts ADD COLUMN admin_job_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN admin_job_error varchar(1000);
ALTER TABLE accounts ADD COLUMN admin_job_requested_at timestamp with time zone;
ALTER TABLE accounts ADD CONSTRAINT ck_accounts_requested_role CHECK (requested_role IN ('Student', 'Staff', 'Admin'));

-- Accounts with work pending for the job (the sweep finds them after a restart).
CREATE INDEX ix_accounts_admin_job_requested_at ON accounts (admin_job_requested_at) WHERE admin_job_requested_at IS NOT NULL;

-- A password reset issues a credential link with no application (accounts created by sign-in have none).
ALTER TABLE credential_links ALTER COLUMN application_id DROP NOT NULL;
CREATE INDEX ix_credential_links_username ON credential_links (username);

-- Two admins editing one user's quota: the second save from the same version is refused, not lost.
ALTER TABLE quota_overrides ADD COLUMN version integer NOT NULL DEFAULT 1;
