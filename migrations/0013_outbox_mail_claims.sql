-- The mail outbox sends each message in three short commits instead of one transaction held open across the SMTP
-- conversation (docs/decisions/0008-mail-outbox.md):
--  * message_id: the Message-ID header, fixed when the row is inserted and sent unchanged on every attempt, so that
--    the rare second copy (a node killed between the server's 250 and the commit that marks the mail sent) carries
--    the same Message-ID and mail clients fold it. Existing rows get one each as the column is added.
--  * claimed_by / claimed_until: the lease of the dispatcher sending the message now. Nobody else takes the message
--    before claimed_until, not even the same node restarted.

ALTER TABLE outbox_mails ADD COLUMN message_id varchar(250) NOT NULL DEFAULT ('<' || gen_random_uuid() || '@outbox.portal>');
ALTER TABLE outbox_mails ADD COLUMN claimed_by varchar(200);
ALTER TABLE outbox_mails ADD COLUMN claimed_until timestamp with time zone;
ALTER TABLE outbox_mails ADD CONSTRAINT ck_outbox_mails_claim CHECK ((claimed_by IS NULL) = (claimed_until IS NULL));

CREATE UNIQUE INDEX ix_outbox_mails_message_id ON outbox_mails (message_id);
