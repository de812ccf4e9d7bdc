-- The whole data model for the campaign engine (docs/data-model.md explains it).
-- Postgres is the system of record; Redis only holds work hints (queues, limiter).
-- Every tenant-owned entity carries org_id so every query can be scoped by
-- organization; child rows are reached through their parent.

-- ---------------------------------------------------------------------------
-- Tenancy and access
-- ---------------------------------------------------------------------------
create table organizations (
    id          bigint generated always as identity primary key,
    name        text not null check (length(name) between 1 and 200),
    created_at  timestamptz not null default now()
);

-- API keys are stored as the SHA-256 of the full key; only the prefix is shown again.
create table api_keys (
    id            bigint generated always as identity primary key,
    org_id        bigint not null references organizations (id) on delete cascade,
    name          text not null check (length(name) between 1 and 200),
    prefix        text not null,
    key_hash      bytea not null unique,
    scopes        text[] not null default '{}',
    created_at    timestamptz not null default now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
create index api_keys_org on api_keys (org_id, id);

-- ---------------------------------------------------------------------------
-- WhatsApp Cloud numbers (delivery). Secrets are AES-256-GCM ciphertexts.
-- ---------------------------------------------------------------------------
create table wa_numbers (
    id                  bigint generated always as identity primary key,
    org_id              bigint not null references organizations (id) on delete cascade,
    phone_number_id     text not null unique,   -- Meta's id; webhooks are routed by it
    waba_id             text not null,
    display_number      text not null,          -- E.164
    access_token_enc    bytea not null,
    app_secret_enc      bytea not null,
    throughput_per_sec  integer not null default 80 check (throughput_per_sec between 1 and 1000),
    messaging_tier      text,                   -- e.g. TIER_250, learned from Meta
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
create index wa_numbers_org on wa_numbers (org_id, id);

-- ---------------------------------------------------------------------------
-- Contacts: the audience. Tags are a normalised text[]; valued tags a flat
-- JSON object key -> string value (one value per key).
-- ---------------------------------------------------------------------------
-- contacts is the bulk-loaded table. A foreign key on org_id would run a
-- per-row check costing about a quarter of the import budget (measured: ~7 us of
-- ~28 us per row), so org_id is not a foreign key here: it always comes from the
-- caller's API key, and deleting an organization removes its contacts through
-- the trigger below.
create table contacts (
    id           bigint generated always as identity (cache 1000) primary key,
    org_id       bigint not null,
    phone        text not null,                 -- E.164, with '+'
    wa_id        text,                          -- WhatsApp id (digits); learned from Meta
    name         text,
    tags         text[] not null default '{}',
    valued_tags  jsonb not null default '{}' check (jsonb_typeof(valued_tags) = 'object'),
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    unique (org_id, phone),
    -- The per-contact limits also hold after merges (the API maps both to 422).
    constraint contacts_tags_limit check (cardinality(tags) <= 100)
);
-- Contacts are listed in phone order, so (org_id, phone) also serves paging:
-- one index less to maintain on every imported row.
create index contacts_tags on contacts using gin (tags);
create index contacts_valued_tags on contacts using gin (valued_tags jsonb_path_ops);

-- At most 50 valued tags per contact. New rows arrive validated; only merges
-- can pass the limit, so this runs on updates only (a check constraint would
-- cost ~1 us on every imported row). It raises under a constraint name so the
-- API can map it like a check violation.
create function check_valued_tags_limit() returns trigger language plpgsql as $$
begin
    if (select count(*) from jsonb_object_keys(new.valued_tags)) > 50 then
        raise exception 'a contact may carry at most 50 valued tags'
            using errcode = 'check_violation', constraint = 'contacts_valued_tags_limit', table = 'contacts';
    end if;
    return new;
end $$;
create trigger contacts_valued_tags_limit before update of valued_tags on contacts
    for each row when (new.valued_tags is distinct from old.valued_tags)
    execute function check_valued_tags_limit();

create function delete_organization_contacts() returns trigger language plpgsql as $$
begin
    delete from contacts where org_id = old.id;
    return old;
end $$;
create trigger organizations_delete_contacts before delete on organizations
    for each row execute function delete_organization_contacts();

-- An open inbox case means an agent is attending the contact: campaigns skip it.
create table inbox_cases (
    id          bigint generated always as identity primary key,
    org_id      bigint not null references organizations (id) on delete cascade,
    contact_id  bigint not null references contacts (id) on delete cascade,
    opened_at   timestamptz not null default now(),
    closed_at   timestamptz,
    note        text
);
create unique index inbox_cases_one_open on inbox_cases (contact_id) where closed_at is null;

-- Opt-outs are keyed by phone so they survive deleting and re-importing a contact.
create table opt_outs (
    org_id      bigint not null references organizations (id) on delete cascade,
    phone       text not null,
    source      text not null check (source in ('api', 'user_reply', 'meta_131050')),
    reason      text,
    created_at  timestamptz not null default now(),
    primary key (org_id, phone)
);

-- ---------------------------------------------------------------------------
-- Templates (synced from Meta), media for headers, bot flows
-- ---------------------------------------------------------------------------
create table templates (
    id                  bigint generated always as identity primary key,
    org_id              bigint not null references organizations (id) on delete cascade,
    waba_id             text not null,
    meta_template_id    text,
    name                text not null,
    language            text not null,
    status              text not null,          -- APPROVED, PAUSED, DISABLED, ...
    category            text,
    parameter_format    text not null default 'POSITIONAL' check (parameter_format in ('POSITIONAL', 'NAMED')),
    body_param_count    integer not null default 0,
    body_param_names    text[] not null default '{}',
    header_format       text,                   -- TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION
    header_param_count  integer not null default 0,
    components          jsonb not null default '[]',
    status_reason       text,
    synced_at           timestamptz not null default now(),
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    unique (org_id, waba_id, name, language)
);

create table media_assets (
    id               bigint generated always as identity primary key,
    org_id           bigint not null references organizations (id) on delete cascade,
    number_id        bigint not null references wa_numbers (id) on delete cascade,
    kind             text not null check (kind in ('image', 'video', 'document')),
    mime_type        text not null,
    filename         text,
    size_bytes       bigint not null,
    sha256           bytea not null,
    content          bytea not null,
    meta_media_id    text,
    meta_uploaded_at timestamptz,
    meta_expires_at  timestamptz,
    created_at       timestamptz not null default now()
);
create index media_assets_org on media_assets (org_id, id);

create table bot_flows (
    id            bigint generated always as identity primary key,
    org_id        bigint not null references organizations (id) on delete cascade,
    name          text not null,
    endpoint_url  text not null,
    secret_enc    bytea not null,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    unique (org_id, name)
);

-- ---------------------------------------------------------------------------
-- Campaigns. Draft/Ready are derived from completeness while `lifecycle` is
-- 'editable'; scheduled/active/finished are explicit lifecycle steps.
-- ---------------------------------------------------------------------------
create table campaigns (
    id                    bigint generated always as identity primary key,
    org_id                bigint not null references organizations (id) on delete cascade,
    kind                  text not null check (kind in ('real', 'test')),
    name                  text not null check (length(name) between 1 and 200),
    lifecycle             text not null default 'editable'
                          check (lifecycle in ('editable', 'scheduled', 'active', 'finished')),
    number_id             bigint references wa_numbers (id) on delete restrict,
    audience_tags         text[] not null default '{}',
    audience_valued_tags  jsonb not null default '{}' check (jsonb_typeof(audience_valued_tags) = 'object'),
    test_contact_ids      bigint[] not null default '{}',
    template_id           bigint references templates (id) on delete restrict,
    -- [{"param": "1" | "first_name", "kind": "text" | "contact_name" | "valued_tag", "value"?: .., "key"?: ..}]
    bindings              jsonb not null default '[]' check (jsonb_typeof(bindings) = 'array'),
    header_media_id       bigint references media_assets (id) on delete restrict,
    bot_flow_id           bigint references bot_flows (id) on delete restrict,
    pace_per_second       double precision check (pace_per_second > 0),
    pace_per_hour         integer check (pace_per_hour > 0),
    delivery_policy       text not null default 'at_most_once'
                          check (delivery_policy in ('at_most_once', 'at_least_once')),
    scheduled_at          timestamptz,
    launched_at           timestamptz,
    planned_at            timestamptz,          -- the launch job finished planning the ledger
    fully_sent_at         timestamptz,          -- every recipient reached a terminal state
    paused_at             timestamptz,
    pause_reason          text,
    finished_at           timestamptz,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now()
);
create index campaigns_org_kind on campaigns (org_id, kind, id);
create index campaigns_due on campaigns (scheduled_at) where lifecycle = 'scheduled';

-- Live counters, sharded so concurrent workers do not queue on one row.
-- Read with sum(value) group by metric; written with insert .. on conflict add.
create table campaign_counters (
    campaign_id  bigint not null references campaigns (id) on delete cascade,
    metric       text not null,
    shard        smallint not null default 0,
    value        bigint not null default 0,
    primary key (campaign_id, metric, shard)
);

-- ---------------------------------------------------------------------------
-- The recipient ledger: one row per campaign x contact, with its outcome.
-- ---------------------------------------------------------------------------
create table recipients (
    campaign_id            bigint not null references campaigns (id) on delete cascade,
    contact_id             bigint not null,     -- no FK: the ledger outlives deleted contacts
    org_id                 bigint not null,
    phone                  text not null,
    state                  text not null check (state in (
                               'planned', 'queued', 'sending', 'accepted', 'sent', 'delivered', 'read',
                               'excluded', 'failed', 'in_doubt')),
    reason_code            text,                -- stable code for excluded / failed / in_doubt
    reason                 text,                -- readable text for reports
    meta_error_code        integer,
    engaged_campaign_id    bigint,              -- for reason 'already_engaged'
    params                 jsonb,               -- frozen template parameters
    attempt                integer not null default 0,
    wamid                  text,
    wa_id                  text,
    next_attempt_at        timestamptz,
    planned_at             timestamptz not null default now(),
    queued_at              timestamptz,
    sending_at             timestamptz,
    accepted_at            timestamptz,
    sent_at                timestamptz,
    delivered_at           timestamptz,
    read_at                timestamptz,
    replied_at             timestamptz,
    failed_at              timestamptz,
    updated_at             timestamptz not null default now(),
    primary key (campaign_id, contact_id)
);
create unique index recipients_wamid on recipients (wamid) where wamid is not null;
create index recipients_campaign_state on recipients (campaign_id, state);

-- P14: a contact is engaged by at most one active campaign (real or test).
create table engagements (
    contact_id   bigint primary key references contacts (id) on delete cascade,
    campaign_id  bigint not null references campaigns (id) on delete cascade,
    org_id       bigint not null,
    engaged_at   timestamptz not null default now()
);
create index engagements_campaign on engagements (campaign_id);

-- Funnel steps reported by bot flows (time_per_funnel_step in the export).
create table funnel_steps (
    campaign_id  bigint not null references campaigns (id) on delete cascade,
    contact_id   bigint not null,
    step         text not null,
    reached_at   timestamptz not null default now(),
    primary key (campaign_id, contact_id, step)
);

-- Inbound messages attributed to campaigns and routed to bot flows.
create table inbound_messages (
    wamid          text primary key,
    org_id         bigint not null references organizations (id) on delete cascade,
    number_id      bigint references wa_numbers (id) on delete set null,
    contact_id     bigint,
    campaign_id    bigint references campaigns (id) on delete set null,
    from_wa_id     text not null,
    message        jsonb not null,
    received_at    timestamptz not null default now(),
    routed_at      timestamptz,
    route_attempts integer not null default 0,
    last_error     text
);
create index inbound_messages_campaign on inbound_messages (campaign_id, received_at);

-- ---------------------------------------------------------------------------
-- Durable hand-off to Redis: rows written in the same transaction as the
-- state change, pushed to a queue by a relay, and swept if Redis was down.
-- ---------------------------------------------------------------------------
create table job_outbox (
    id          bigint generated always as identity primary key,
    queue       text not null,
    dedupe_key  text not null unique,
    payload     jsonb not null,
    created_at  timestamptz not null default now(),
    pushed_at   timestamptz
);
create index job_outbox_unpushed on job_outbox (id) where pushed_at is null;

-- Raw webhook batches, kept until applied.
create table webhook_events (
    id               bigint generated always as identity primary key,
    phone_number_id  text,
    payload          bytea not null,
    received_at      timestamptz not null default now(),
    processed_at     timestamptz
);
create index webhook_events_unprocessed on webhook_events (id) where processed_at is null;

-- ---------------------------------------------------------------------------
-- Reports: built in chunks by the report queue, streamed on download.
-- ---------------------------------------------------------------------------
create table reports (
    id            bigint generated always as identity primary key,
    org_id        bigint not null references organizations (id) on delete cascade,
    campaign_id   bigint not null references campaigns (id) on delete cascade,
    status        text not null default 'pending' check (status in ('pending', 'building', 'ready', 'failed')),
    row_count     bigint,
    byte_count    bigint,
    error         text,
    requested_at  timestamptz not null default now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
create index reports_campaign on reports (campaign_id, id);

create table report_chunks (
    report_id  bigint not null references reports (id) on delete cascade,
    seq        integer not null,
    data       bytea not null,
    primary key (report_id, seq)
);

-- ---------------------------------------------------------------------------
-- Worker processes: one row per process start (unique name), with heartbeats.
-- ---------------------------------------------------------------------------
create table worker_processes (
    name          text primary key,
    host          text not null,
    queues        text[] not null default '{}',
    started_at    timestamptz not null default now(),
    last_seen_at  timestamptz not null default now(),
    stopped_at    timestamptz
);
