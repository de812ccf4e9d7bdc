-- The operator console's accounts, sessions and failed sign-ins.
--
-- An operator signs in with an email (unique in the deployment, stored in
-- lower case) and a password kept only as an Argon2id PHC string. `admin`
-- manages the organization's accounts and API keys; `operator` runs
-- campaigns.
create table operators (
    id            bigint generated always as identity primary key,
    org_id        bigint not null references organizations (id) on delete cascade,
    email         text not null check (email = lower(email) and length(email) between 3 and 254),
    password_hash text not null,
    role          text not null check (role in ('admin', 'operator')),
    -- The console's language for this account; null follows the browser.
    locale        text check (locale in ('en', 'es')),
    created_at    timestamptz not null default now(),
    disabled_at   timestamptz
);
create unique index operators_email on operators (email);
create index operators_org on operators (org_id);

-- A signed-in browser: the cookie holds a random token, only its SHA-256 is
-- stored. `csrf_token` is the value every form of the session must echo.
-- A session ends at `expires_at`, or after 12 hours without a request.
create table console_sessions (
    token_hash   bytea primary key,
    operator_id  bigint not null references operators (id) on delete cascade,
    csrf_token   text not null,
    created_at   timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at   timestamptz not null
);
create index console_sessions_operator on console_sessions (operator_id);

-- Failed sign-ins, kept for the throttling window: by the email tried and by
-- the client's address.
create table sign_in_failures (
    id     bigint generated always as identity primary key,
    email  text not null,
    client text not null,
    at     timestamptz not null default now()
);
create index sign_in_failures_email on sign_in_failures (email, at);
create index sign_in_failures_client on sign_in_failures (client, at);
