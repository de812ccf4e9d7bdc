-- Planning the recipient ledger (issue 5).

-- An exclusion's key (the valued tag a contact lacks, or whose value WhatsApp
-- refuses), so the readable reason is rendered from structured columns
-- (domain::campaign::Exclusion).
alter table recipients add column reason_key text;

-- Planning writes a million recipients and engagements in one statement; a
-- foreign key check per row cost about a quarter of that (measured: ~5 s of
-- ~21 s per million). Both tables are written only by our own code from ids
-- it just read, so row triggers on the parents do the cascades instead.
alter table recipients drop constraint recipients_campaign_id_fkey;
alter table engagements drop constraint engagements_contact_id_fkey;
alter table engagements drop constraint engagements_campaign_id_fkey;

create function delete_campaign_ledger() returns trigger language plpgsql as $$
begin
    delete from recipients where campaign_id = old.id;
    delete from engagements where campaign_id = old.id;
    return old;
end $$;
create trigger campaigns_delete_ledger before delete on campaigns
    for each row execute function delete_campaign_ledger();

-- A deleted contact is no longer engaged (its ledger rows stay: reports keep them).
create function delete_contact_engagement() returns trigger language plpgsql as $$
begin
    delete from engagements where contact_id = old.id;
    return old;
end $$;
create trigger contacts_delete_engagement after delete on contacts
    for each row execute function delete_contact_engagement();

-- The scheduler tick's sweeps look for rows in one state across campaigns,
-- every second: partial indexes keep that O(rows in that state). Planning
-- inserts only `planned`/`excluded` rows, so they cost it nothing.
create index recipients_sending on recipients (sending_at) where state = 'sending';
create index recipients_in_doubt on recipients (updated_at) where state = 'in_doubt';
create index recipients_queued on recipients ((coalesce(next_attempt_at, queued_at))) where state = 'queued';
