-- Applications accepted while LDAP could not be asked: their username and email were checked against the portal's
-- own records only, and are checked against the directory again before approval (docs/decisions/0013-applications-while-directory-down.md).
-- Every application before this one was checked against the directory at submission.
ALTER TABLE account_applications ADD COLUMN checked_against_directory boolean NOT NULL DEFAULT true;
