-- The trust boundary between organizations (issue 12).

-- ---------------------------------------------------------------------------
-- Webhooks: whose app secret verified each WABA a batch is about, so a
-- template update signed by one organization's number changes only that
-- organization's templates ({"<waba_id>": "<phone_number_id>"}).
-- ---------------------------------------------------------------------------
alter table webhook_events add column waba_signers jsonb not null default '{}'
    check (jsonb_typeof(waba_signers) = 'object');

-- ---------------------------------------------------------------------------
-- Engagement is a person's, not a contact row's: keyed by the phone, so a
-- contact deleted after its message went out and imported again is still
-- engaged by that campaign, and no second active campaign can reach the
-- person until the first finishes (P14).
-- ---------------------------------------------------------------------------
alter table engagements add column phone text;
update engagements e set phone = c.phone from contacts c where c.id = e.contact_id;
delete from engagements where phone is null;
alter table engagements alter column phone set not null;
alter table engagements drop constraint engagements_pkey;
alter table engagements add primary key (org_id, phone);

create or replace function campaign_audience(p_campaign bigint)
    returns table (contact_id bigint, phone text, name text, valued_tags jsonb,
                   reason_code text, reason_key text, engaged_campaign_id bigint)
    language sql stable
as $$
    select a.id, a.phone, a.name, a.valued_tags, split_part(a.reason, ':', 1), nullif(split_part(a.reason, ':', 2), ''),
           case when a.reason = 'already_engaged' then a.engaged end
    from (
        -- `reason` is `code` or `code:key`; computed once per contact (see offset 0).
        select c.id, c.phone, c.name, c.valued_tags, e.campaign_id as engaged, case
            -- E.164: '+', a digit 1-9, then 6 to 14 digits (string functions: a
            -- regular expression costs a second per million contacts).
            when left(c.phone, 1) <> '+' or length(c.phone) not between 8 and 16 or substr(c.phone, 2, 1) = '0'
                 or ltrim(substr(c.phone, 2), '0123456789') <> '' then 'invalid_phone'
            when o.phone is not null then 'opted_out'
            when e.campaign_id is not null then 'already_engaged'
            when not c.valued_tags ?& n.keys then
                'missing_valued_tag:' || (select k from unnest(n.keys) k where not c.valued_tags ? k limit 1)
            when n.name and (c.name is null or is_blank(c.name)) then 'missing_name'
            when n.name and not param_value_ok(c.name) then 'invalid_name'
            -- The first bound key (alphabetically) whose value Meta would refuse. The first four
            -- keys are tested inline: a subquery per contact doubles the cost.
            when n.keys[1] is not null and not param_value_ok(c.valued_tags ->> n.keys[1])
                then 'invalid_param_value:' || n.keys[1]
            when n.keys[2] is not null and not param_value_ok(c.valued_tags ->> n.keys[2])
                then 'invalid_param_value:' || n.keys[2]
            when n.keys[3] is not null and not param_value_ok(c.valued_tags ->> n.keys[3])
                then 'invalid_param_value:' || n.keys[3]
            when n.keys[4] is not null and not param_value_ok(c.valued_tags ->> n.keys[4])
                then 'invalid_param_value:' || n.keys[4]
            when cardinality(n.keys) > 4
                 and exists (select 1 from unnest(n.keys[5:]) k where not param_value_ok(c.valued_tags ->> k))
                then 'invalid_param_value:'
                     || (select k from unnest(n.keys[5:]) k where not param_value_ok(c.valued_tags ->> k) limit 1)
            when ic.id is not null then 'open_inbox_case'
        end as reason
        from campaigns cp
        cross join lateral (
            select coalesce(array_agg(distinct b ->> 'key') filter (where b ->> 'kind' = 'valued_tag'), '{}') as keys, -- sorted
                   coalesce(bool_or(b ->> 'kind' = 'contact_name'), false) as name,
                   (select coalesce(array_agg(jsonb_build_object(v.key, v.value)), '{}')
                    from jsonb_each(cp.audience_valued_tags) v) as any_pairs
            from jsonb_array_elements(cp.bindings) b
        ) n
        join contacts c on c.org_id = cp.org_id and case
            when cp.kind = 'test' then c.id = any(cp.test_contact_ids)
            when cp.audience_match = 'any' then c.tags && cp.audience_tags or c.valued_tags @> any(n.any_pairs)
            else c.tags @> cp.audience_tags and c.valued_tags @> cp.audience_valued_tags
        end
        left join opt_outs o on o.org_id = c.org_id and o.phone = c.phone
        left join engagements e on e.org_id = c.org_id and e.phone = c.phone and e.campaign_id <> cp.id
        left join inbox_cases ic on ic.contact_id = c.id and ic.closed_at is null
        where cp.id = p_campaign
        offset 0 -- computes each contact's reason once, not once per use
    ) a
$$;

-- Deleting a contact never leaves it to be messaged: in the same statement,
-- its rows still waiting to be sent (planned or queued; they exist only in
-- campaigns engaging it) are excluded as `contact_deleted`, and those
-- engagements are released. An engagement whose message already went out
-- (or may have) stays until its campaign finishes. Found through the
-- engagements, so deleting an organization's contacts costs a key lookup per
-- contact, not a scan of the ledger.
create or replace function delete_contact_engagement() returns trigger language plpgsql as $$
begin
    update recipients r
    set state = 'excluded', reason_code = 'contact_deleted', reason = null, next_attempt_at = null,
        updated_at = now()
    from engagements e
    where e.org_id = old.org_id and e.phone = old.phone
      and r.campaign_id = e.campaign_id and r.contact_id = old.id and r.state in ('planned', 'queued');
    delete from engagements e
    where e.org_id = old.org_id and e.phone = old.phone
      and not exists (select 1 from recipients r
                      where r.campaign_id = e.campaign_id and r.contact_id = old.id
                        and r.state not in ('planned', 'queued', 'excluded'));
    return old;
end $$;
drop trigger contacts_delete_engagement on contacts;
create trigger contacts_delete_engagement before delete on contacts
    for each row execute function delete_contact_engagement();

-- ---------------------------------------------------------------------------
-- Numbers are verified with Meta when registered (and when their token or
-- WABA changes): the display number, name, quality rating, messaging-limit
-- tier and throughput are Meta's answer, never the client's word.
-- ---------------------------------------------------------------------------
alter table wa_numbers
    add column verified_name  text,
    add column quality_rating text,              -- GREEN, YELLOW, RED, UNKNOWN
    add column verified_at    timestamptz;        -- last read from Meta; null for numbers registered before
