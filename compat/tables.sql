-- Vault compatibility layer, first installation only: schema vault and the
-- table of secrets. compat/vault.sql, which runs next and on every upgrade,
-- adds the comment, the functions, the view and the grants.
--
-- Schema vault is created here, never reused: a schema vault that already
-- exists is either Vault or a look-alike that this layer refuses to trust.
-- It is owned by the installing superuser and closed to PUBLIC.

CREATE SCHEMA vault;
REVOKE ALL ON SCHEMA vault FROM PUBLIC;

CREATE TABLE vault.secrets (
    id          pg_catalog.uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name        pg_catalog.text,
    description pg_catalog.text        NOT NULL DEFAULT '',
    secret      pg_catalog.text        NOT NULL,
    key_id      pg_catalog.uuid,
    nonce       pg_catalog.bytea,
    created_at  pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX secrets_name_idx ON vault.secrets (name) WHERE name IS NOT NULL;
