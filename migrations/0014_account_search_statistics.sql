-- The admin user search (ILIKE '%text%' on username, display name and email, ordered by username, one page) has two
-- plans: the trigram indexes of 0007 and a sort of the few matches, or a walk of the username order that stops
-- after a page of matches. Which one the planner takes follows its estimate of how many rows match, read from the
-- statistics of the indexes' expressions. At the default target (100) ANALYZE samples 30,000 rows at random, and
-- on 100,000 accounts about one ANALYZE in twenty estimated 1,030 matches instead of 30: the search then walked all
-- accounts. At 400 the sample is 120,000 rows, all of them up to that size, and the estimate stays the same.
ALTER INDEX ix_accounts_username_trgm ALTER COLUMN 1 SET STATISTICS 400;
ALTER INDEX ix_accounts_display_name_trgm ALTER COLUMN 1 SET STATISTICS 400;
ALTER INDEX ix_accounts_email_trgm ALTER COLUMN 1 SET STATISTICS 400;
