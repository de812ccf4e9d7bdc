-- The send path under faults.

-- ---------------------------------------------------------------------------
-- One live send job per recipient. Every push of a job (the fan-out, a lost
-- job pushed again, a replay) takes the next `dispatch` number and carries it;
-- a job whose number is not the row's is stale and does nothing, before it
-- waits for the rate limiter. `sending_by` names the process that claimed the
-- row, so a dead process's sends are known at once; `evidence_resent` marks a
-- row sent again because Meta's statuses proved the earlier attempt never
-- arrived; `attempts_before_replay` is where a replayed dead
-- letter's retry budget starts (attempt numbers themselves never go back: they
-- are in the callback data of every status).
-- ---------------------------------------------------------------------------
alter table recipients
    add column dispatch               integer not null default 0,
    add column sending_by             text,
    add column evidence_resent        boolean not null default false,
    add column attempts_before_replay integer not null default 0;

-- Per number, the latest acceptance time of a message whose status has been
-- applied: statuses of sends made after an in-doubt attempt are evidence about
-- it (docs/failure-model.md). Sharded like the counters (each status
-- transaction writes the shard it holds), so consumers never wait on it; read
-- with max().
create table number_status_watermarks (
    number_id       bigint not null references wa_numbers (id) on delete cascade,
    shard           smallint not null,
    statuses_until  timestamptz not null,
    primary key (number_id, shard)
);

-- The seconds in which an API process could store webhooks (each stamps every
-- second): a missing second is an outage of the endpoint or of Postgres, whose
-- statuses Meta retries later; the evidence waits for them. Kept a day.
create table webhook_ingest_seconds (
    second  timestamptz primary key
);

-- ---------------------------------------------------------------------------
-- Live counters without lock waits: each transaction writes the shard whose
-- advisory lock it holds (taken without waiting, kept until commit), so two
-- writers never touch the same counter row and cannot deadlock on them, even
-- across the several statements of one transaction. With more than 16 writers
-- at once the last ones share a shard, as before.
-- ---------------------------------------------------------------------------
create function counter_shard() returns smallint language plpgsql volatile as $$
declare
    first constant int := pg_backend_pid() % 16;
begin
    for i in 0..15 loop
        if pg_try_advisory_xact_lock(1330463092, (first + i) % 16) then
            return (first + i) % 16;
        end if;
    end loop;
    return first;
end $$;

create or replace function count_recipients_insert() returns trigger language plpgsql as $$
declare
    my_shard constant smallint := counter_shard();
begin
    insert into campaign_counters (campaign_id, metric, shard, value)
    select n.campaign_id, m.metric, my_shard, count(*)
    from new_rows n
    cross join lateral unnest(recipient_metrics(n.state, n.reason_code, n.sent_at, n.delivered_at,
                                                n.read_at, n.replied_at)) as m(metric)
    group by 1, 2
    order by 1, 2
    on conflict (campaign_id, metric, shard) do update set value = campaign_counters.value + excluded.value;
    return null;
end $$;

create or replace function count_recipients_update() returns trigger language plpgsql as $$
declare
    my_shard constant smallint := counter_shard();
begin
    insert into campaign_counters (campaign_id, metric, shard, value)
    select campaign_id, metric, my_shard, sum(delta)
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

-- The epoch the scheduler last saw in Redis: gone or different means Redis
-- lost its data, and the queued recipients' jobs with it (workers::pipeline).
-- In Postgres so a scheduler that takes over from another one knows it too.
create table redis_epoch (
    singleton  boolean primary key default true check (singleton),
    epoch      text not null,
    seen_at    timestamptz not null default now()
);
