-- A new outbox job wakes the relays at once (LISTEN job_outbox in the
-- schedulers), so "launch now" does not wait for the next scheduler tick.
-- The tick still relays everything, so a missed notification only costs
-- that second.
create function notify_job_outbox() returns trigger language plpgsql as $$
begin
    perform pg_notify('job_outbox', '');
    return null;
end $$;

create trigger job_outbox_notify after insert on job_outbox
    for each statement execute function notify_job_outbox();
