-- Dead letters kept in Postgres, listed and counted by operators
-- (docs/operations.md): small partial indexes, since both tables are large
-- and their dead rows few.
create index inbound_messages_dead on inbound_messages (org_id, wamid) where dead_at is not null;
create index webhook_events_failed on webhook_events (id) where failed_at is not null;
