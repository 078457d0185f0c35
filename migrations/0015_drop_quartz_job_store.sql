-- The jobs moved from Quartz to Hangfire (docs/decisions/0015-jobs-on-hangfire.md). Hangfire's tables live in the
-- schema "hangfire", installed by the migration runner after these files; the Quartz tables of 0003 go.
DROP TABLE IF EXISTS qrtz_fired_triggers, qrtz_paused_trigger_grps, qrtz_paused_job_grps, qrtz_scheduler_state,
    qrtz_locks, qrtz_execution_history, qrtz_misfire_history, qrtz_job_status, qrtz_simple_triggers,
    qrtz_simprop_triggers, qrtz_cron_triggers, qrtz_blob_triggers, qrtz_triggers, qrtz_job_details, qrtz_calendars;
