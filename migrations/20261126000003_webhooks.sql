-- Webhooks, replies, funnel steps and live counters (issue 6).

-- ---------------------------------------------------------------------------
-- webhook_events is the durable ingest queue: the API inserts each signed raw
-- batch before answering 200, and status workers claim pending rows in
-- batches (`for update skip locked`), apply them and delete them. The backlog
-- of a worker outage lives here, not in Redis, so no queue can wedge and
-- Redis memory stays flat however long the workers are away.
-- A row that keeps failing is dead-lettered (`failed_at`) with its last error.
-- ---------------------------------------------------------------------------
alter table webhook_events
    add column attempts      integer not null default 0,
    add column claimed_until timestamptz,          -- a claim older than this was abandoned
    add column last_error    text,
    add column failed_at     timestamptz;
drop index webhook_events_unprocessed;
create index webhook_events_pending on webhook_events (id) where processed_at is null and failed_at is null;

-- ---------------------------------------------------------------------------
-- Reply routing: the organization's route for messages from contacts no
-- campaign engages, and the words that opt a contact out.
-- ---------------------------------------------------------------------------
alter table organizations
    add column default_bot_flow_id bigint references bot_flows (id) on delete set null,
    add column opt_out_keywords    text[] not null
        default '{STOP,UNSUBSCRIBE,STOPALL,OPTOUT,OPT-OUT,CANCEL,END,QUIT,PARAR,BAJA}';

-- How each inbound message is routed, and its delivery to the bot flow.
alter table inbound_messages
    add column route           text not null default 'unattributed'
        check (route in ('campaign', 'default', 'unattributed')),
    add column bot_flow_id     bigint references bot_flows (id) on delete set null,
    add column opted_out       boolean not null default false,
    add column next_attempt_at timestamptz,
    add column dead_at         timestamptz;       -- gave up after the last attempt
-- The sweeper's look-up of replies whose routing job was lost.
create index inbound_messages_unrouted on inbound_messages (received_at)
    where routed_at is null and dead_at is null and bot_flow_id is not null;

-- Why a campaign was paused, as a stable code next to the readable reason, so
-- a template re-approved by Meta resumes exactly the campaigns its pause stopped.
alter table campaigns add column pause_code text;

-- ---------------------------------------------------------------------------
-- Live counters, maintained by statement-level triggers on the ledger: every
-- statement adds, per campaign and metric, (rows with the metric after) minus
-- (rows with it before). A counter therefore changes only on real
-- transitions, whatever code path wrote the row, and always equals the same
-- aggregate over `recipients`. Metrics:
--   state:<state>          rows in each state
--   reason:<code>          excluded, failed and in-doubt rows by reason code
--   delivered, read, replied, sent   rows with that timestamp set
-- Writers add to a shard chosen by backend, so concurrent workers do not
-- queue on one row; readers sum the shards.
-- ---------------------------------------------------------------------------
create function recipient_metrics(state text, reason_code text, sent_at timestamptz, delivered_at timestamptz,
                                  read_at timestamptz, replied_at timestamptz)
returns text[] language sql immutable parallel safe as $$
    select array_remove(array[
        'state:' || state,
        case when state in ('excluded', 'failed', 'in_doubt') then 'reason:' || coalesce(reason_code, 'unknown') end,
        case when sent_at is not null then 'sent' end,
        case when delivered_at is not null then 'delivered' end,
        case when read_at is not null then 'read' end,
        case when replied_at is not null then 'replied' end
    ], null)
$$;

create function count_recipients_insert() returns trigger language plpgsql as $$
begin
    insert into campaign_counters (campaign_id, metric, shard, value)
    select n.campaign_id, m.metric, pg_backend_pid() % 8, count(*)
    from new_rows n
    cross join lateral unnest(recipient_metrics(n.state, n.reason_code, n.sent_at, n.delivered_at,
                                                n.read_at, n.replied_at)) as m(metric)
    group by 1, 2
    -- Rows locked in one order by every writer: no deadlocks between them.
    order by 1, 2
    on conflict (campaign_id, metric, shard) do update set value = campaign_counters.value + excluded.value;
    return null;
end $$;

create function count_recipients_update() returns trigger language plpgsql as $$
begin
    insert into campaign_counters (campaign_id, metric, shard, value)
    select campaign_id, metric, pg_backend_pid() % 8, sum(delta)
    from (
        select n.campaign_id, m.metric, 1 as delta
        from new_rows n
        cross join lateral unnest(recipient_metrics(n.state, n.reason_code, n.sent_at, n.delivered_at,
                                                    n.read_at, n.replied_at)) as m(metric)
        union all
        select o.campaign_id, m.metric, -1
        from old_rows o
        cross join lateral unnest(recipient_metrics(o.state, o.reason_code, o.sent_at, o.delivered_at,
                                                    o.read_at, o.replied_at)) as m(metric)
    ) d
    group by 1, 2
    having sum(delta) <> 0
    order by 1, 2
    on conflict (campaign_id, metric, shard) do update set value = campaign_counters.value + excluded.value;
    return null;
end $$;

create trigger recipients_count_insert after insert on recipients
    referencing new table as new_rows for each statement execute function count_recipients_insert();
create trigger recipients_count_update after update on recipients
    referencing old table as old_rows new table as new_rows for each statement execute function count_recipients_update();

-- Campaigns already running when this migration applies get their counters once.
insert into campaign_counters (campaign_id, metric, shard, value)
select r.campaign_id, m.metric, 0, count(*)
from recipients r
cross join lateral unnest(recipient_metrics(r.state, r.reason_code, r.sent_at, r.delivered_at,
                                            r.read_at, r.replied_at)) as m(metric)
group by 1, 2;
