-- "Retry failed": a real campaign whose audience is a fixed list of contacts
-- (those of another campaign whose failure was worth retrying later, e.g.
-- Meta's marketing limit 131049, or an outcome that stayed unknown), instead
-- of tags. `retry_of` names that campaign; the retry takes over its
-- engagement of those contacts when it is planned, so it need not wait for
-- the first campaign to finish.
alter table campaigns
    add column audience_contact_ids bigint[],
    add column retry_of bigint references campaigns (id) on delete set null,
    add constraint campaigns_fixed_audience_is_real check (audience_contact_ids is null or kind = 'real');

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
            when cp.audience_contact_ids is not null then c.id = any(cp.audience_contact_ids)
            when cp.audience_match = 'any' then c.tags && cp.audience_tags or c.valued_tags @> any(n.any_pairs)
            else c.tags @> cp.audience_tags and c.valued_tags @> cp.audience_valued_tags
        end
        left join opt_outs o on o.org_id = c.org_id and o.phone = c.phone
        left join engagements e on e.org_id = c.org_id and e.phone = c.phone and e.campaign_id <> cp.id
            and e.campaign_id is distinct from cp.retry_of
        left join inbox_cases ic on ic.contact_id = c.id and ic.closed_at is null
        where cp.id = p_campaign
        offset 0 -- computes each contact's reason once, not once per use
    ) a
$$;
