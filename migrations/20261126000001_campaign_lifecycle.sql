-- Campaign lifecycle (issue 4): what the first migration did not yet hold.

-- A template that a re-sync no longer finds at Meta is kept (campaigns may
-- point at it) and marked, never deleted silently.
alter table templates add column missing_since timestamptz;
-- Placeholder names of a TEXT header (`{{1}}` or `{{name}}`), like body_param_names.
alter table templates add column header_param_names text[] not null default '{}';

-- How the audience's tags and valued tags combine: every one of them
-- (`all`, like the contacts listing) or at least one (`any`).
alter table campaigns add column audience_match text not null default 'all'
    check (audience_match in ('all', 'any'));

-- Empty or only white space: Unicode's White_Space characters, the set Rust's
-- char::is_whitespace (and str::trim) uses.
create function is_blank(v text) returns boolean
    language sql immutable parallel safe
    return btrim(v, U&'\0009\000A\000B\000C\000D\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000') = '';

-- Meta's rule for a text template parameter (error 132018 and friends): not
-- blank, no new-line or tab, at most four consecutive spaces, and it must fit
-- the 1,024-character body. domain::campaign::check_param_value is the same
-- rule in Rust; a store test holds them to the same answers.
create function param_value_ok(v text) returns boolean
    language sql immutable parallel safe
    return v is not null and not is_blank(v) and v !~ '[\n\r\t]|     ' and char_length(v) <= 1024;

-- A campaign's audience: one row per contact it targets, with the one
-- reason it would not be sent to (null when it would be), checked in this
-- order of precedence:
--   invalid_phone, opted_out, already_engaged (engaged_campaign_id names the
--   campaign), missing_valued_tag (reason_key names the first missing key,
--   alphabetically), missing_name, invalid_name, invalid_param_value
--   (reason_key names the key),
--   open_inbox_case (last: a case may close before the message is sent).
-- Set-based and inlined into its caller, so the forecast groups a million
-- contacts in one statement; the launch job plans the ledger from it (and
-- freezes the contact's name and valued tags it returns).
create function campaign_audience(p_campaign bigint)
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
        left join engagements e on e.contact_id = c.id and e.campaign_id <> cp.id
        left join inbox_cases ic on ic.contact_id = c.id and ic.closed_at is null
        where cp.id = p_campaign
        offset 0 -- computes each contact's reason once, not once per use
    ) a
$$;
