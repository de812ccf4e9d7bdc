-- Delivery that respects Meta's messaging limit, the support team and the
-- recipients' night (docs/delivery-limits.md).

-- ---------------------------------------------------------------------------
-- Messaging-limit tiers. Meta limits the distinct users a business portfolio
-- may start conversations with in a moving 24 hours; the limit is the
-- portfolio's, shared by all of its numbers. `messaging_tier` (already here)
-- is what Meta reports for the number, which is the portfolio's tier.
-- ---------------------------------------------------------------------------
alter table wa_numbers
    add column portfolio_id    text,          -- Meta's owner_business_info.id of the number's WABA
    add column tier_checked_at timestamptz;   -- the tier was last read from Meta; null: read it soon
-- A number registered before portfolios were read is budgeted on its own WABA
-- (as the API records a WABA whose owner Meta does not show) until its next
-- verification with Meta reads the owner.
update wa_numbers set portfolio_id = 'waba:' || waba_id;
alter table wa_numbers alter column portfolio_id set not null;

-- Who each organization reached through each portfolio, when last: a phone
-- counts against the limit while `reached_at` is inside the window. Written
-- when a recipient is queued (before the send: budgeting is conservative),
-- only for portfolios whose tier is limited. Rows past the window are pruned.
create table portfolio_reach (
    org_id        bigint not null references organizations (id) on delete cascade,
    portfolio_id  text not null,
    phone         text not null,
    reached_at    timestamptz not null,
    primary key (org_id, portfolio_id, phone)
);
create index portfolio_reach_window on portfolio_reach (org_id, portfolio_id, reached_at);
-- The tick's pruning finds expired reaches of every portfolio by time.
create index portfolio_reach_expiry on portfolio_reach (reached_at);

-- Meta refused a send for the messaging limit although the budget had room
-- (another sender shares the portfolio, or the tier went down): the
-- portfolio's sends wait until `held_until`.
create table portfolio_holds (
    org_id        bigint not null references organizations (id) on delete cascade,
    portfolio_id  text not null,
    held_until    timestamptz not null,
    reason        text not null,
    primary key (org_id, portfolio_id)
);

-- ---------------------------------------------------------------------------
-- Reply-aware pacing and quiet hours: the campaign's rules, as one checked
-- JSON object ({"support_capacity": {"replies_per_hour", "max_open_cases"},
-- "quiet_hours": {"start": "HH:MM", "end": "HH:MM"}}), and what the pacing
-- controller decided.
-- ---------------------------------------------------------------------------
alter table campaigns
    add column delivery_rules   jsonb not null default '{}' check (jsonb_typeof(delivery_rules) = 'object'),
    add column paced_per_second double precision check (paced_per_second >= 0), -- null: the configured pace
    add column pacing_code      text,       -- why the pace is below the configured one, if it is
    add column pacing_reason    text,
    add column pacing_since     timestamptz,
    add column recipient_zones  text[];     -- the planned recipients' distinct time zones (quiet hours)

-- Every change of a campaign's pace by the controller, for the statistics.
create table campaign_pacing_events (
    id              bigint generated always as identity primary key,
    campaign_id     bigint not null references campaigns (id) on delete cascade,
    at              timestamptz not null default now(),
    code            text not null,          -- e.g. reply_capacity, open_cases, resumed
    reason          text not null,
    pace_per_second double precision not null
);
create index campaign_pacing_events_campaign on campaign_pacing_events (campaign_id, id);

-- A contact's own IANA time zone (wins over the phone's country default).
alter table contacts add column time_zone text check (time_zone is null or length(time_zone) between 1 and 64);
-- The zone a recipient's quiet hours are read in, frozen at planning (only
-- for campaigns with quiet hours).
alter table recipients add column time_zone text;
