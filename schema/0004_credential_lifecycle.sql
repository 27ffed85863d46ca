-- Credential lifecycle: namespaces, exact names, versions with check-and-set,
-- rollback to the previous value, metadata updates, refresh that runs once
-- per version, an audit row for every operation and a keyset-paged listing
-- that never reads vault.secrets.
--
-- Bookkeeping. vault_credentials holds one row per Vault secret this install
-- knows, keyed by the Vault id: its namespace, its exact name (unique in the
-- namespace), description, version, expiry, timestamps, and the Vault
-- ciphertext and nonce of the previous value, copied from vault.secrets
-- before each update_secret, for rollback_credential. The previous value is
-- never decrypted except to make it current again; it is bound to the row id
-- like any Vault ciphertext. There is no foreign key to vault.secrets (its
-- REFERENCES grant has come and gone between Supabase releases): a Vault row
-- deleted behind the library's back leaves a row here that Retrieve and Read
-- report as not found and Put replaces.
--
-- Vault names. Vault's names are unique across the whole database, so they
-- cannot carry a per-namespace name. Credentials created by Put, and those
-- stored in a namespace other than the default one, get a NULL Vault name:
-- their name lives here only. Store in the default namespace (and
-- store_credential) names the Vault secret as before, with a random " #suffix"
-- when the name is taken in Vault or here, so the Supabase dashboard keeps
-- showing those names. Descriptions are kept in both places.
--
-- Credentials from before. Every Vault secret that exists when this migration
-- runs is recorded in the default namespace (""), under its Vault name (or its
-- id when it has none), at version 1. A Vault secret created later without
-- these functions belongs to the default namespace as well: retrieve, read,
-- rotate and delete reach it by id, lookup and put by its Vault name, and the
-- first write records it here; list shows it from then on.
--
-- Locking. Every write locks the credential's row here (FOR NO KEY UPDATE)
-- before touching Vault, so writes to one credential are serialized without
-- ever locking vault.secrets rows (which postgres may not do). A refresh
-- (credential_refresh_begin, then credential_refresh_finish in the same
-- transaction) holds that lock while the caller renews the token at its
-- provider: concurrent refreshes of the credential wait, then see the version
-- move on and return the new value instead of renewing again.
--
-- The four original functions keep their signatures and behaviour; they now
-- also keep the bookkeeping and write an audit row. They act on any id,
-- whatever its namespace (store_credential stores into the default
-- namespace): the namespace-scoped API is the credential_* functions.
--
-- SQLSTATEs raised here (matched by the Go client):
--   22004  an argument that must not be NULL was NULL
--   22023  an argument has an invalid value (empty name, over the size limits)
--   23505  update: the new name is taken in the namespace
--   40001  put: the name kept being created and deleted concurrently; retry
--   P0002  no credential with that id or name in the namespace (another
--          namespace's credential is reported exactly like an unknown one);
--          rollback: no previous value
--   VA003  a check-and-set found another version than the expected one

CREATE TABLE @schema@.vault_credentials (
    id              uuid        PRIMARY KEY,
    namespace       text        COLLATE pg_catalog."C" NOT NULL DEFAULT '',
    name            text        COLLATE pg_catalog."C" NOT NULL,
    description     text        NOT NULL DEFAULT '',
    version         bigint      NOT NULL DEFAULT 1,
    expires_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    previous_secret text,
    previous_nonce  bytea,
    CONSTRAINT vault_credentials_namespace_name_key UNIQUE (namespace, name)
) WITH (fillfactor = 80);

-- List in expiry order, and find what expires soon, without reading the rest.
CREATE INDEX vault_credentials_namespace_expires_at_idx
    ON @schema@.vault_credentials (namespace, expires_at, id) WHERE expires_at IS NOT NULL;

REVOKE ALL ON TABLE @schema@.vault_credentials FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON TABLE @schema@.vault_credentials IS
    'Bookkeeping of the credential lifecycle: one row per Vault secret (id = vault.secrets.id, no foreign key), '
    'with its namespace, exact name (unique per namespace, C collation), description, version, expiry, '
    'created_at, updated_at (last value change) and the Vault ciphertext and nonce of the previous value. '
    'Rotations update only unindexed columns (fillfactor 80 keeps them HOT). Only the owner may read it.';
COMMENT ON COLUMN @schema@.vault_credentials.previous_secret IS
    'Vault ciphertext (base64, as in vault.secrets.secret) of the value before the last change; decrypts only '
    'for this id, with vault._crypto_aead_det_decrypt. NULL until the value first changes.';

-- Every operation is audited, not only retrievals. Existing rows were all
-- retrievals, which is the default.
ALTER TABLE @schema@.vault_access_log ADD COLUMN op text NOT NULL DEFAULT 'retrieve';

COMMENT ON COLUMN @schema@.vault_access_log.op IS
    'The operation: store, put, retrieve, read, refresh (reads), rotate, rollback, update, delete.';
COMMENT ON TABLE @schema@.vault_access_log IS
    'Append-only record of every successful credential operation (column op): retrievals by retrieve_credential '
    'and the credential_* functions, and every write. Only the owner may read or prune it; no other role has any '
    'privilege on it. Failed and denied calls roll back with their transaction and are recorded by the Go '
    'client''s logger instead.';

-- Record the credentials that exist now in the default namespace.
INSERT INTO @schema@.vault_credentials (id, namespace, name, description, created_at, updated_at)
SELECT s.id, '', coalesce(s.name, s.id::text), s.description, s.created_at, s.updated_at
  FROM vault.secrets AS s
ON CONFLICT DO NOTHING;

-------------------------------------------------------------------------------
-- Internal helpers: executable by the owner only, called by the functions
-- below (which run as the owner).

CREATE FUNCTION @schema@._credential_audit(p_secret_id uuid, p_op text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_claims jsonb;
    v_raw    text;
    v_role   text;
BEGIN
    -- PostgREST (Edge Functions, supabase-js rpc) sets request.jwt.claims.
    v_raw := pg_catalog.current_setting('request.jwt.claims', true);
    IF v_raw IS NOT NULL AND v_raw OPERATOR(pg_catalog.<>) '' THEN
        BEGIN
            v_claims := v_raw::jsonb;
        EXCEPTION WHEN others THEN
            v_claims := NULL;
        END;
    END IF;
    -- Inside SECURITY DEFINER current_user is the owner; the caller's role is
    -- the one its session switched to with SET ROLE, or its login role.
    v_role := pg_catalog.current_setting('role');
    IF v_role OPERATOR(pg_catalog.=) 'none' THEN
        v_role := session_user;
    END IF;
    INSERT INTO @schema@.vault_access_log
        (secret_id, op, session_user_name, current_user_name, jwt_role, jwt_sub, application_name, client_addr)
    VALUES (
        p_secret_id,
        p_op,
        session_user,
        v_role,
        coalesce(v_claims OPERATOR(pg_catalog.->>) 'role', pg_catalog.current_setting('request.jwt.claim.role', true)),
        coalesce(v_claims OPERATOR(pg_catalog.->>) 'sub', pg_catalog.current_setting('request.jwt.claim.sub', true)),
        pg_catalog.current_setting('application_name'),
        pg_catalog.inet_client_addr()
    );
END;
$$;

-- Records a Vault secret unknown to the bookkeeping in the default namespace,
-- under its Vault name, or its id when the name is missing or taken. Returns
-- whether the Vault secret exists.
CREATE FUNCTION @schema@._credential_adopt(p_secret_id uuid)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_name        text;
    v_description text;
    v_created_at  timestamptz;
    v_updated_at  timestamptz;
    v_candidate   text;
BEGIN
    SELECT s.name, s.description, s.created_at, s.updated_at
      INTO v_name, v_description, v_created_at, v_updated_at
      FROM vault.secrets AS s
     WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    FOREACH v_candidate IN ARRAY ARRAY[
        v_name,
        p_secret_id::text,
        p_secret_id::text OPERATOR(pg_catalog.||) ' #'
            OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 12)]
    LOOP
        CONTINUE WHEN v_candidate IS NULL;
        INSERT INTO @schema@.vault_credentials (id, namespace, name, description, created_at, updated_at)
        VALUES (p_secret_id, '', v_candidate, coalesce(v_description, ''), v_created_at, v_updated_at)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN true;
        END IF;
        -- Either the name is taken, or the id was recorded concurrently.
        PERFORM FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id;
        IF FOUND THEN
            RETURN true;
        END IF;
    END LOOP;
    RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'could not record an existing Vault secret; retry';
END;
$$;

-- Locks and returns the credential's bookkeeping row, recording an unknown
-- Vault secret in the default namespace first. p_namespace NULL means any
-- namespace (the original functions). Raises P0002 when there is no such
-- credential in the namespace, whether it exists elsewhere or not.
CREATE FUNCTION @schema@._credential_lock(p_namespace text, p_secret_id uuid)
RETURNS @schema@.vault_credentials
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r @schema@.vault_credentials;
BEGIN
    SELECT c.* INTO r
      FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id
       AND (p_namespace IS NULL OR c.namespace OPERATOR(pg_catalog.=) p_namespace)
       FOR NO KEY UPDATE;
    IF FOUND THEN
        RETURN r;
    END IF;
    IF (p_namespace IS NULL OR p_namespace OPERATOR(pg_catalog.=) '')
       AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id)
       AND @schema@._credential_adopt(p_secret_id) THEN
        SELECT c.* INTO r
          FROM @schema@.vault_credentials AS c
         WHERE c.id OPERATOR(pg_catalog.=) p_secret_id
           AND c.namespace OPERATOR(pg_catalog.=) ''
           FOR NO KEY UPDATE;
        IF FOUND THEN
            RETURN r;
        END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential not found';
END;
$$;

-- Sets a new value (and, when not NULL, description) of a credential whose
-- row the caller has locked, as a new version: copies the current ciphertext
-- and nonce into previous_secret/previous_nonce, calls vault.update_secret,
-- bumps the version and writes the audit row. Returns the updated row, or a
-- NULL row (nothing changed) when the Vault secret no longer exists.
CREATE FUNCTION @schema@._credential_write(p_secret_id uuid, p_new_secret text, p_new_description text, p_op text)
RETURNS @schema@.vault_credentials
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret text;
    v_nonce  bytea;
    r        @schema@.vault_credentials;
BEGIN
    -- The bookkeeping row is locked, so every writer through these functions
    -- waits here: the ciphertext read is the current value's.
    SELECT s.secret, s.nonce INTO v_secret, v_nonce
      FROM vault.secrets AS s
     WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM vault.update_secret(p_secret_id, p_new_secret, NULL, p_new_description);
    -- vault.update_secret raises nothing for an unknown id: if the Vault row
    -- was deleted meanwhile (not through these functions), nothing changed.
    PERFORM FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE @schema@.vault_credentials AS c
       SET version = c.version OPERATOR(pg_catalog.+) 1,
           updated_at = pg_catalog.now(),
           description = coalesce(p_new_description, c.description),
           previous_secret = v_secret,
           previous_nonce = v_nonce
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id
    RETURNING c.* INTO r;
    PERFORM @schema@._credential_audit(p_secret_id, p_op);
    RETURN r;
END;
$$;

-- The time of the credential's last retrieval (retrieve, read or refresh).
CREATE FUNCTION @schema@._credential_last_retrieved_at(p_secret_id uuid)
RETURNS timestamptz
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.accessed_at
      FROM @schema@.vault_access_log AS l
     WHERE l.secret_id OPERATOR(pg_catalog.=) p_secret_id
       AND l.op OPERATOR(pg_catalog.=) ANY (ARRAY['retrieve', 'read', 'refresh'])
     ORDER BY l.accessed_at DESC
     LIMIT 1
$$;

-- Validation shared by the functions that take a namespace.
CREATE FUNCTION @schema@._credential_check_namespace(p_function text, p_namespace text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_namespace IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = p_function OPERATOR(pg_catalog.||) ': p_namespace must not be null';
    END IF;
    IF pg_catalog.octet_length(p_namespace) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = p_function OPERATOR(pg_catalog.||) ': p_namespace is longer than 256 bytes';
    END IF;
END;
$$;

-------------------------------------------------------------------------------
-- The namespace-scoped API.

CREATE FUNCTION @schema@.credential_store(p_namespace text, p_name text, p_secret text, p_description text)
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id   uuid;
    v_name text := p_name;
    v_try  integer := 0;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_store', p_namespace);
    IF p_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_store: p_name must not be null';
    END IF;
    IF p_name OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_store: p_name must not be empty';
    END IF;
    IF p_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_store: p_secret must not be null';
    END IF;
    IF pg_catalog.octet_length(p_name) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_store: p_name is longer than 256 bytes';
    END IF;
    IF pg_catalog.octet_length(p_secret) OPERATOR(pg_catalog.>) 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_store: p_secret is longer than 65536 bytes';
    END IF;
    IF pg_catalog.octet_length(p_description) OPERATOR(pg_catalog.>) 4096 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_store: p_description is longer than 4096 bytes';
    END IF;

    -- Names are labels here: a second credential with the same name in the
    -- namespace gets the name plus a random suffix, so both stay visible.
    IF EXISTS (SELECT FROM @schema@.vault_credentials AS c
                WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) v_name) THEN
        v_name := p_name OPERATOR(pg_catalog.||) ' #'
            OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 12);
    END IF;
    IF p_namespace OPERATOR(pg_catalog.=) '' THEN
        -- The default namespace names the Vault secret too, as store_credential always has.
        BEGIN
            v_id := vault.create_secret(p_secret, v_name, coalesce(p_description, ''));
        EXCEPTION WHEN unique_violation THEN
            v_name := p_name OPERATOR(pg_catalog.||) ' #'
                OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 12);
            v_id := vault.create_secret(p_secret, v_name, coalesce(p_description, ''));
        END;
    ELSE
        v_id := vault.create_secret(p_secret, NULL, coalesce(p_description, ''));
    END IF;
    LOOP
        INSERT INTO @schema@.vault_credentials (id, namespace, name, description)
        VALUES (v_id, p_namespace, v_name, coalesce(p_description, ''))
        ON CONFLICT ON CONSTRAINT vault_credentials_namespace_name_key DO NOTHING;
        EXIT WHEN FOUND;
        -- Taken concurrently (by a put): take a suffixed name instead.
        v_try := v_try OPERATOR(pg_catalog.+) 1;
        IF v_try OPERATOR(pg_catalog.>) 3 THEN
            RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'credential_store: the name kept being taken concurrently; retry';
        END IF;
        v_name := p_name OPERATOR(pg_catalog.||) ' #'
            OPERATOR(pg_catalog.||) pg_catalog.left(pg_catalog.replace(pg_catalog.gen_random_uuid()::text, '-', ''), 12);
        IF p_namespace OPERATOR(pg_catalog.=) '' THEN
            PERFORM vault.update_secret(v_id, NULL, v_name);
        END IF;
    END LOOP;
    PERFORM @schema@._credential_audit(v_id, 'store');
    RETURN v_id;
END;
$$;

CREATE FUNCTION @schema@.credential_put(p_namespace text, p_name text, p_secret text, p_description text)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r    @schema@.vault_credentials;
    v_id uuid;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_put', p_namespace);
    IF p_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_put: p_name must not be null';
    END IF;
    IF p_name OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_put: p_name must not be empty';
    END IF;
    IF p_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_put: p_secret must not be null';
    END IF;
    IF p_description IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_put: p_description must not be null';
    END IF;
    IF pg_catalog.octet_length(p_name) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_put: p_name is longer than 256 bytes';
    END IF;
    IF pg_catalog.octet_length(p_secret) OPERATOR(pg_catalog.>) 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_put: p_secret is longer than 65536 bytes';
    END IF;
    IF pg_catalog.octet_length(p_description) OPERATOR(pg_catalog.>) 4096 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_put: p_description is longer than 4096 bytes';
    END IF;

    FOR v_try IN 1..3 LOOP
        SELECT c.* INTO r
          FROM @schema@.vault_credentials AS c
         WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name
           FOR NO KEY UPDATE;
        IF NOT FOUND AND p_namespace OPERATOR(pg_catalog.=) '' THEN
            -- A Vault secret of that name created without these functions
            -- belongs to the default namespace: update it rather than
            -- creating a second credential.
            SELECT s.id INTO v_id FROM vault.secrets AS s WHERE s.name OPERATOR(pg_catalog.=) p_name;
            IF FOUND
               AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) v_id)
               AND @schema@._credential_adopt(v_id) THEN
                SELECT c.* INTO r
                  FROM @schema@.vault_credentials AS c
                 WHERE c.namespace OPERATOR(pg_catalog.=) '' AND c.name OPERATOR(pg_catalog.=) p_name
                   FOR NO KEY UPDATE;
            END IF;
        END IF;
        IF r.id IS NOT NULL THEN
            SELECT w.* INTO r FROM @schema@._credential_write(r.id, p_secret, p_description, 'put') AS w;
            IF r.id IS NOT NULL THEN
                RETURN QUERY SELECT r.id, r.namespace::text, r.name::text, r.description, r.version, r.expires_at,
                                    r.created_at, r.updated_at, NULL::timestamptz;
                RETURN;
            END IF;
            -- The Vault secret was deleted without these functions: forget
            -- it and create the credential again.
            DELETE FROM @schema@.vault_credentials AS c
             WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name;
        END IF;

        v_id := vault.create_secret(p_secret, NULL, p_description);
        INSERT INTO @schema@.vault_credentials (id, namespace, name, description)
        VALUES (v_id, p_namespace, p_name, p_description)
        ON CONFLICT ON CONSTRAINT vault_credentials_namespace_name_key DO NOTHING
        RETURNING * INTO r;
        IF FOUND THEN
            PERFORM @schema@._credential_audit(v_id, 'put');
            RETURN QUERY SELECT r.id, r.namespace::text, r.name::text, r.description, r.version, r.expires_at,
                                r.created_at, r.updated_at, NULL::timestamptz;
            RETURN;
        END IF;
        -- A concurrent put created the name first (and has committed, or the
        -- insert would still wait): drop the secret just made and update
        -- that credential instead.
        DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) v_id;
        r := NULL;
    END LOOP;
    RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'credential_put: the name kept changing concurrently; retry';
END;
$$;

CREATE FUNCTION @schema@.credential_lookup(p_namespace text, p_name text)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_lookup', p_namespace);
    IF p_name IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_lookup: p_name must not be null';
    END IF;
    -- One probe of the unique index; the last retrieval is List's business.
    RETURN QUERY
    SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at,
           NULL::timestamptz
      FROM @schema@.vault_credentials AS c
     WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name;
    IF FOUND THEN
        RETURN;
    END IF;
    IF p_namespace OPERATOR(pg_catalog.=) '' THEN
        -- A Vault secret created without these functions, by its Vault name.
        RETURN QUERY
        SELECT s.id, ''::text, s.name, s.description, 1::bigint, NULL::timestamptz, s.created_at, s.updated_at,
               NULL::timestamptz
          FROM vault.secrets AS s
         WHERE s.name OPERATOR(pg_catalog.=) p_name
           AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) s.id);
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_lookup: credential not found';
END;
$$;

CREATE FUNCTION @schema@.credential_retrieve(p_namespace text, p_secret_id uuid)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_secret text;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_retrieve', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_retrieve: p_secret_id must not be null';
    END IF;
    -- The namespace is checked before anything is decrypted. A Vault secret
    -- without bookkeeping belongs to the default namespace.
    SELECT d.decrypted_secret INTO v_secret
      FROM vault.decrypted_secrets AS d
      LEFT JOIN @schema@.vault_credentials AS c ON c.id OPERATOR(pg_catalog.=) d.id
     WHERE d.id OPERATOR(pg_catalog.=) p_secret_id
       AND coalesce(c.namespace, '') OPERATOR(pg_catalog.=) p_namespace;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_retrieve: credential not found';
    END IF;
    PERFORM @schema@._credential_audit(p_secret_id, 'retrieve');
    RETURN v_secret;
END;
$$;

CREATE FUNCTION @schema@.credential_read(p_namespace text, p_secret_id uuid)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz, secret text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_read', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_read: p_secret_id must not be null';
    END IF;
    RETURN QUERY
    SELECT d.id, coalesce(c.namespace::text, ''),
           coalesce(c.name::text, d.name, d.id::text), coalesce(c.description, d.description),
           coalesce(c.version, 1::bigint), c.expires_at,
           coalesce(c.created_at, d.created_at), coalesce(c.updated_at, d.updated_at),
           NULL::timestamptz, d.decrypted_secret
      FROM vault.decrypted_secrets AS d
      LEFT JOIN @schema@.vault_credentials AS c ON c.id OPERATOR(pg_catalog.=) d.id
     WHERE d.id OPERATOR(pg_catalog.=) p_secret_id
       AND coalesce(c.namespace, '') OPERATOR(pg_catalog.=) p_namespace;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_read: credential not found';
    END IF;
    PERFORM @schema@._credential_audit(p_secret_id, 'read');
END;
$$;

CREATE FUNCTION @schema@.credential_rotate(p_namespace text, p_secret_id uuid, p_new_secret text, p_if_version bigint)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r @schema@.vault_credentials;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_rotate', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_rotate: p_secret_id must not be null';
    END IF;
    IF p_new_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_rotate: p_new_secret must not be null';
    END IF;
    IF pg_catalog.octet_length(p_new_secret) OPERATOR(pg_catalog.>) 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_rotate: p_new_secret is longer than 65536 bytes';
    END IF;
    r := @schema@._credential_lock(p_namespace, p_secret_id);
    IF p_if_version IS NOT NULL AND r.version OPERATOR(pg_catalog.<>) p_if_version THEN
        RAISE EXCEPTION USING ERRCODE = 'VA003', MESSAGE = 'credential_rotate: the credential is at another version than expected';
    END IF;
    SELECT w.* INTO r FROM @schema@._credential_write(p_secret_id, p_new_secret, NULL, 'rotate') AS w;
    IF r.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_rotate: credential not found';
    END IF;
    RETURN r.version;
END;
$$;

CREATE FUNCTION @schema@.credential_rollback(p_namespace text, p_secret_id uuid, p_if_version bigint)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r       @schema@.vault_credentials;
    v_value text;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_rollback', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_rollback: p_secret_id must not be null';
    END IF;
    r := @schema@._credential_lock(p_namespace, p_secret_id);
    IF p_if_version IS NOT NULL AND r.version OPERATOR(pg_catalog.<>) p_if_version THEN
        RAISE EXCEPTION USING ERRCODE = 'VA003', MESSAGE = 'credential_rollback: the credential is at another version than expected';
    END IF;
    IF r.previous_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_rollback: the credential has no previous value';
    END IF;
    -- Decrypted as vault.decrypted_secrets does, with this row's id as
    -- associated data; the plaintext lives only in this call.
    v_value := pg_catalog.convert_from(
        vault._crypto_aead_det_decrypt(
            pg_catalog.decode(r.previous_secret, 'base64'),
            pg_catalog.convert_to(p_secret_id::text, 'utf8'),
            0::bigint,
            'pgsodium'::bytea,
            r.previous_nonce),
        'utf8');
    IF v_value IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22000', MESSAGE = 'credential_rollback: the previous value cannot be decrypted';
    END IF;
    SELECT w.* INTO r FROM @schema@._credential_write(p_secret_id, v_value, NULL, 'rollback') AS w;
    IF r.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_rollback: credential not found';
    END IF;
    RETURN r.version;
END;
$$;

CREATE FUNCTION @schema@.credential_update(p_namespace text, p_secret_id uuid, p_name text, p_description text,
                                           p_expires_at timestamptz)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r @schema@.vault_credentials;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_update', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_update: p_secret_id must not be null';
    END IF;
    IF p_name OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_update: p_name must not be empty';
    END IF;
    IF pg_catalog.octet_length(p_name) OPERATOR(pg_catalog.>) 256 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_update: p_name is longer than 256 bytes';
    END IF;
    IF pg_catalog.octet_length(p_description) OPERATOR(pg_catalog.>) 4096 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_update: p_description is longer than 4096 bytes';
    END IF;
    IF p_expires_at OPERATOR(pg_catalog.=) '-infinity'::timestamptz THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_update: p_expires_at must be a time, or infinity for none';
    END IF;
    r := @schema@._credential_lock(p_namespace, p_secret_id);
    IF p_name IS NOT NULL AND p_name OPERATOR(pg_catalog.<>) r.name::text
       AND EXISTS (SELECT FROM @schema@.vault_credentials AS c
                    WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace AND c.name OPERATOR(pg_catalog.=) p_name) THEN
        RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'credential_update: the name is taken in the namespace';
    END IF;
    IF p_description IS NOT NULL AND p_description OPERATOR(pg_catalog.<>) r.description THEN
        -- Keep the description the Supabase dashboard shows in step.
        PERFORM vault.update_secret(p_secret_id, NULL, NULL, p_description);
    END IF;
    UPDATE @schema@.vault_credentials AS c
       SET name = coalesce(p_name, c.name),
           description = coalesce(p_description, c.description),
           expires_at = CASE WHEN p_expires_at IS NULL THEN c.expires_at
                             WHEN p_expires_at OPERATOR(pg_catalog.=) 'infinity'::timestamptz THEN NULL
                             ELSE p_expires_at END
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id
    RETURNING c.* INTO r;
    PERFORM @schema@._credential_audit(p_secret_id, 'update');
    RETURN QUERY SELECT r.id, r.namespace::text, r.name::text, r.description, r.version, r.expires_at,
                        r.created_at, r.updated_at, NULL::timestamptz;
END;
$$;

CREATE FUNCTION @schema@.credential_delete(p_namespace text, p_secret_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_delete', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_delete: p_secret_id must not be null';
    END IF;
    -- The bookkeeping row first: this waits for a write or refresh in progress.
    DELETE FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.namespace OPERATOR(pg_catalog.=) p_namespace;
    IF FOUND THEN
        DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
        PERFORM @schema@._credential_audit(p_secret_id, 'delete');
        RETURN;
    END IF;
    -- Unknown here: a Vault secret without bookkeeping belongs to the default
    -- namespace. Another namespace's credential is left alone, as an unknown
    -- id would be.
    IF p_namespace OPERATOR(pg_catalog.=) ''
       AND NOT EXISTS (SELECT FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id) THEN
        DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
        IF FOUND THEN
            PERFORM @schema@._credential_audit(p_secret_id, 'delete');
        END IF;
    END IF;
END;
$$;

CREATE FUNCTION @schema@.credential_list(
    p_namespace        text,
    p_name_prefix      text,
    p_updated_before   timestamptz,
    p_expires_before   timestamptz,
    p_after_name       text,
    p_after_expires_at timestamptz,
    p_after_id         uuid,
    p_limit            integer)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
DECLARE
    v_limit integer := least(greatest(coalesce(p_limit, 100), 1), 1000);
    v_upper text;
    v_tail  text;
    v_code  integer;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_list', p_namespace);
    IF p_expires_before IS NOT NULL THEN
        -- Soonest expiry first, through the partial expiry index. The cursor
        -- is the last row's (expires_at, id).
        RETURN QUERY
        SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at,
               @schema@._credential_last_retrieved_at(c.id)
          FROM @schema@.vault_credentials AS c
         WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace
           AND c.expires_at IS NOT NULL
           AND c.expires_at OPERATOR(pg_catalog.<) p_expires_before
           AND (p_after_id IS NULL
                OR ROW(c.expires_at, c.id) OPERATOR(pg_catalog.>) ROW(p_after_expires_at, p_after_id))
           AND (p_name_prefix IS NULL OR pg_catalog.starts_with(c.name, p_name_prefix))
           AND (p_updated_before IS NULL OR c.updated_at OPERATOR(pg_catalog.<) p_updated_before)
         ORDER BY c.expires_at, c.id
         LIMIT v_limit;
        RETURN;
    END IF;

    -- Name order (bytewise, C collation), through the unique (namespace, name)
    -- index; a name prefix is a range of it. The cursor is the last row's name.
    IF p_name_prefix IS NOT NULL THEN
        -- The smallest string above every string that starts with the prefix.
        v_tail := p_name_prefix;
        WHILE v_tail OPERATOR(pg_catalog.<>) '' LOOP
            v_code := pg_catalog.ascii(pg_catalog.right(v_tail, 1));
            v_tail := pg_catalog.left(v_tail, -1);
            IF v_code OPERATOR(pg_catalog.<) 1114111 THEN
                v_code := v_code OPERATOR(pg_catalog.+) 1;
                IF v_code OPERATOR(pg_catalog.=) 55296 THEN -- skip the UTF-16 surrogates
                    v_code := 57344;
                END IF;
                v_upper := v_tail OPERATOR(pg_catalog.||) pg_catalog.chr(v_code);
                EXIT;
            END IF;
        END LOOP;
    END IF;
    RETURN QUERY
    SELECT c.id, c.namespace::text, c.name::text, c.description, c.version, c.expires_at, c.created_at, c.updated_at,
           @schema@._credential_last_retrieved_at(c.id)
      FROM @schema@.vault_credentials AS c
     WHERE c.namespace OPERATOR(pg_catalog.=) p_namespace
       AND (p_after_name IS NULL OR c.name OPERATOR(pg_catalog.>) p_after_name)
       AND (p_name_prefix IS NULL OR c.name OPERATOR(pg_catalog.>=) p_name_prefix)
       AND (v_upper IS NULL OR c.name OPERATOR(pg_catalog.<) v_upper)
       AND (p_updated_before IS NULL OR c.updated_at OPERATOR(pg_catalog.<) p_updated_before)
     ORDER BY c.name
     LIMIT v_limit;
END;
$$;

CREATE FUNCTION @schema@.credential_refresh_begin(p_namespace text, p_secret_id uuid)
RETURNS TABLE (refreshed boolean, id uuid, namespace text, name text, description text, version bigint,
               expires_at timestamptz, created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz,
               secret text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_seen  bigint;
    v_value text;
    r       @schema@.vault_credentials;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_refresh_begin', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_refresh_begin: p_secret_id must not be null';
    END IF;
    -- The version the caller sees before waiting (each statement of this
    -- function reads the latest committed data in READ COMMITTED).
    SELECT c.version INTO v_seen
      FROM @schema@.vault_credentials AS c
     WHERE c.id OPERATOR(pg_catalog.=) p_secret_id AND c.namespace OPERATOR(pg_catalog.=) p_namespace;
    -- Waits for a refresh (or any write) of the credential in progress.
    r := @schema@._credential_lock(p_namespace, p_secret_id);
    SELECT d.decrypted_secret INTO v_value FROM vault.decrypted_secrets AS d WHERE d.id OPERATOR(pg_catalog.=) p_secret_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_refresh_begin: credential not found';
    END IF;
    IF v_seen IS NOT NULL AND r.version OPERATOR(pg_catalog.<>) v_seen THEN
        -- Refreshed (or rotated) while this call waited: its value is the result.
        PERFORM @schema@._credential_audit(p_secret_id, 'refresh');
        RETURN QUERY SELECT true, r.id, r.namespace::text, r.name::text, r.description, r.version, r.expires_at,
                            r.created_at, r.updated_at, NULL::timestamptz, v_value;
        RETURN;
    END IF;
    RETURN QUERY SELECT false, r.id, r.namespace::text, r.name::text, r.description, r.version, r.expires_at,
                        r.created_at, r.updated_at, NULL::timestamptz, v_value;
END;
$$;

CREATE FUNCTION @schema@.credential_refresh_finish(p_namespace text, p_secret_id uuid, p_version bigint, p_new_secret text)
RETURNS TABLE (id uuid, namespace text, name text, description text, version bigint, expires_at timestamptz,
               created_at timestamptz, updated_at timestamptz, last_retrieved_at timestamptz)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r @schema@.vault_credentials;
BEGIN
    PERFORM @schema@._credential_check_namespace('credential_refresh_finish', p_namespace);
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_refresh_finish: p_secret_id must not be null';
    END IF;
    IF p_version IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_refresh_finish: p_version must not be null';
    END IF;
    IF p_new_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'credential_refresh_finish: p_new_secret must not be null';
    END IF;
    IF pg_catalog.octet_length(p_new_secret) OPERATOR(pg_catalog.>) 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'credential_refresh_finish: p_new_secret is longer than 65536 bytes';
    END IF;
    r := @schema@._credential_lock(p_namespace, p_secret_id);
    IF r.version OPERATOR(pg_catalog.<>) p_version THEN
        RAISE EXCEPTION USING ERRCODE = 'VA003', MESSAGE = 'credential_refresh_finish: the credential is at another version than expected';
    END IF;
    SELECT w.* INTO r FROM @schema@._credential_write(p_secret_id, p_new_secret, NULL, 'refresh') AS w;
    IF r.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'credential_refresh_finish: credential not found';
    END IF;
    RETURN QUERY SELECT r.id, r.namespace::text, r.name::text, r.description, r.version, r.expires_at,
                        r.created_at, r.updated_at, NULL::timestamptz;
END;
$$;

-------------------------------------------------------------------------------
-- The original functions keep their signatures and behaviour, and now keep
-- the bookkeeping and the audit too. They are not scoped to a namespace.

CREATE OR REPLACE FUNCTION @schema@.store_credential(p_name text, p_secret text, p_description text DEFAULT '')
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN @schema@.credential_store(''::text, p_name, p_secret, p_description);
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.rotate_credential(p_secret_id uuid, p_new_secret text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r @schema@.vault_credentials;
BEGIN
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'rotate_credential: p_secret_id must not be null';
    END IF;
    IF p_new_secret IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'rotate_credential: p_new_secret must not be null';
    END IF;
    IF pg_catalog.octet_length(p_new_secret) OPERATOR(pg_catalog.>) 65536 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'rotate_credential: p_new_secret is longer than 65536 bytes';
    END IF;
    r := @schema@._credential_lock(NULL, p_secret_id);
    SELECT w.* INTO r FROM @schema@._credential_write(p_secret_id, p_new_secret, NULL, 'rotate') AS w;
    IF r.id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'rotate_credential: credential not found';
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION @schema@.delete_credential(p_secret_id uuid)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_known boolean;
BEGIN
    IF p_secret_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'delete_credential: p_secret_id must not be null';
    END IF;
    DELETE FROM @schema@.vault_credentials AS c WHERE c.id OPERATOR(pg_catalog.=) p_secret_id;
    v_known := FOUND;
    DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) p_secret_id;
    IF v_known OR FOUND THEN
        PERFORM @schema@._credential_audit(p_secret_id, 'delete');
    END IF;
END;
$$;

-- Same result shape; "last retrieval" ignores the writes now in the log.
CREATE OR REPLACE FUNCTION @schema@.list_credentials(
    p_name_prefix    text        DEFAULT NULL,
    p_updated_before timestamptz DEFAULT NULL,
    p_limit          integer     DEFAULT 100)
RETURNS TABLE (
    id                uuid,
    name              text,
    description       text,
    created_at        timestamptz,
    updated_at        timestamptz,
    last_retrieved_at timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.id, s.name, s.description, s.created_at, s.updated_at, @schema@._credential_last_retrieved_at(s.id)
      FROM vault.secrets AS s
     WHERE (p_name_prefix IS NULL OR pg_catalog.starts_with(s.name, p_name_prefix))
       AND (p_updated_before IS NULL OR s.updated_at OPERATOR(pg_catalog.<) p_updated_before)
     ORDER BY s.updated_at, s.id
     LIMIT least(greatest(coalesce(p_limit, 100), 1), 1000)
$$;

-------------------------------------------------------------------------------
-- Privileges and documentation.

REVOKE ALL ON FUNCTION @schema@._credential_audit(uuid, text) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@._credential_adopt(uuid) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@._credential_lock(text, uuid) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@._credential_write(uuid, text, text, text) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@._credential_last_retrieved_at(uuid) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION @schema@._credential_check_namespace(text, text) FROM PUBLIC, anon, authenticated, service_role;

REVOKE ALL ON FUNCTION @schema@.credential_store(text, text, text, text) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_put(text, text, text, text) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_lookup(text, text) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_retrieve(text, uuid) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_read(text, uuid) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_rotate(text, uuid, text, bigint) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_rollback(text, uuid, bigint) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_update(text, uuid, text, text, timestamptz) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_delete(text, uuid) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_list(text, text, timestamptz, timestamptz, text, timestamptz, uuid, integer) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_refresh_begin(text, uuid) FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION @schema@.credential_refresh_finish(text, uuid, bigint, text) FROM PUBLIC, anon, authenticated;

GRANT EXECUTE ON FUNCTION @schema@.credential_store(text, text, text, text) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_put(text, text, text, text) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_lookup(text, text) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_retrieve(text, uuid) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_read(text, uuid) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_rotate(text, uuid, text, bigint) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_rollback(text, uuid, bigint) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_update(text, uuid, text, text, timestamptz) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_delete(text, uuid) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_list(text, text, timestamptz, timestamptz, text, timestamptz, uuid, integer) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_refresh_begin(text, uuid) TO service_role;
GRANT EXECUTE ON FUNCTION @schema@.credential_refresh_finish(text, uuid, bigint, text) TO service_role;

COMMENT ON FUNCTION @schema@._credential_audit(uuid, text) IS
    'Internal: appends one vault_access_log row for an operation, with the caller''s session user, role, JWT '
    'claims, application name and address. Owner only.';
COMMENT ON FUNCTION @schema@._credential_adopt(uuid) IS
    'Internal: records a Vault secret unknown to vault_credentials in the default namespace, under its Vault '
    'name (or its id when unnamed or taken); returns whether the Vault secret exists. Owner only.';
COMMENT ON FUNCTION @schema@._credential_lock(text, uuid) IS
    'Internal: locks (FOR NO KEY UPDATE) and returns the credential''s vault_credentials row in the namespace '
    '(NULL: any), recording an unknown Vault secret in the default namespace; raises P0002 otherwise. Owner only.';
COMMENT ON FUNCTION @schema@._credential_write(uuid, text, text, text) IS
    'Internal: for a locked credential, keeps the current Vault ciphertext and nonce as the previous value, '
    'sets the new value (and description) with vault.update_secret, bumps the version and audits the operation; '
    'returns a NULL row when the Vault secret is gone. Owner only.';
COMMENT ON FUNCTION @schema@._credential_last_retrieved_at(uuid) IS
    'Internal: time of the credential''s last retrieve, read or refresh in vault_access_log. Owner only.';
COMMENT ON FUNCTION @schema@._credential_check_namespace(text, text) IS
    'Internal: rejects a NULL namespace (22004) or one over 256 bytes (22023). Owner only.';

COMMENT ON FUNCTION @schema@.credential_store(text, text, text, text) IS
    'Stores a new credential in the namespace and returns its Vault id. The name is a label: one taken in the '
    'namespace gets a random " #suffix". In the default namespace the Vault secret is named as by '
    'store_credential; elsewhere its Vault name is NULL. Audited as store. SECURITY DEFINER, executable by '
    'service_role only. NULL arguments raise 22004; an empty name or oversized input raises 22023.';
COMMENT ON FUNCTION @schema@.credential_put(text, text, text, text) IS
    'Creates or updates the credential with this exact name in the namespace: at most one per (namespace, name), '
    'also under concurrent calls; an update keeps the id, sets value and description and bumps the version. '
    'Returns its metadata. The Vault secret of a created credential has a NULL name. Audited as put. '
    'SECURITY DEFINER, executable by service_role only. 22004, 22023 for bad input; 40001 when the name kept '
    'changing concurrently.';
COMMENT ON FUNCTION @schema@.credential_lookup(text, text) IS
    'Returns the metadata (never the value) of the credential with this exact name in the namespace, or raises '
    'P0002; last_retrieved_at is NULL (see credential_list). SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_retrieve(text, uuid) IS
    'Returns the decrypted credential if it belongs to the namespace (otherwise P0002, as for an unknown id) and '
    'audits it as retrieve. SECURITY DEFINER, executable by service_role only. A ciphertext that does not decrypt '
    'raises 22000.';
COMMENT ON FUNCTION @schema@.credential_read(text, uuid) IS
    'Returns the credential''s metadata and decrypted value if it belongs to the namespace (otherwise P0002) and '
    'audits it as read. SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_rotate(text, uuid, text, bigint) IS
    'Sets a new value as the next version and returns it; the previous value is kept (as Vault ciphertext) for '
    'credential_rollback. With p_if_version, applies only at that version, else raises VA003 and changes nothing. '
    'P0002 for an unknown id or another namespace''s. Audited as rotate. SECURITY DEFINER, service_role only.';
COMMENT ON FUNCTION @schema@.credential_rollback(text, uuid, bigint) IS
    'Makes the previous value current again, as the next version, and returns that version; rolling back twice '
    'returns to the value rolled back from. P0002 for an unknown id, another namespace''s, or no previous value; '
    'VA003 when p_if_version is given and differs. Audited as rollback. SECURITY DEFINER, service_role only.';
COMMENT ON FUNCTION @schema@.credential_update(text, uuid, text, text, timestamptz) IS
    'Changes the name, description and expiry that are not NULL, never the value or version; p_expires_at '
    '''infinity'' removes the expiry. A name taken in the namespace raises 23505; an unknown id or another '
    'namespace''s raises P0002. Audited as update. SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_delete(text, uuid) IS
    'Deletes the credential from Vault and the bookkeeping if it belongs to the namespace; otherwise does nothing, '
    'as for an unknown id (idempotent). Audited as delete when something was deleted. SECURITY DEFINER, '
    'executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_list(text, text, timestamptz, timestamptz, text, timestamptz, uuid, integer) IS
    'Lists the namespace''s credentials'' metadata, never values, from the bookkeeping only (never vault.secrets). '
    'By name (bytewise), after p_after_name; with p_expires_before, soonest expiry first, after '
    '(p_after_expires_at, p_after_id). Filters: name prefix, updated (value set) before. 1 to 1000 rows per call. '
    'SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_refresh_begin(text, uuid) IS
    'First half of a refresh, inside a transaction: locks the credential (waiting for a refresh in progress) and '
    'returns its metadata and value. refreshed = true means the version moved on while waiting: that value is the '
    'result (audited as refresh), commit. Otherwise renew the value and call credential_refresh_finish with the '
    'returned version in the same transaction. SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.credential_refresh_finish(text, uuid, bigint, text) IS
    'Second half of a refresh: sets the renewed value as the next version if the credential is still at '
    'p_version (else VA003) and returns the metadata. Audited as refresh. SECURITY DEFINER, executable by '
    'service_role only.';

COMMENT ON FUNCTION @schema@.store_credential(text, text, text) IS
    'Encrypts p_secret into Supabase Vault, in the default namespace, and returns the Vault secret id; keep only '
    'that id in your tables. SECURITY DEFINER, executable by service_role only. p_name is a label for humans: a '
    'name already used in Vault or in the default namespace gets a random " #suffix". Audited as store. NULL '
    'p_name or p_secret raises 22004; an empty p_name, or a name, secret or description over 256, 65536 or 4096 '
    'bytes raises 22023.';
COMMENT ON FUNCTION @schema@.rotate_credential(uuid, text) IS
    'Replaces the credential value in place as its next version: same id, new ciphertext, updated_at = now(); '
    'the previous value is kept for rollback. Acts on any namespace. Audited as rotate. SECURITY DEFINER, '
    'executable by service_role only. Unknown id raises P0002; NULL arguments raise 22004.';
COMMENT ON FUNCTION @schema@.delete_credential(uuid) IS
    'Deletes the credential from Vault and the bookkeeping, in any namespace. Idempotent: an unknown id returns '
    'without error. Audited as delete when something was deleted. SECURITY DEFINER, executable by service_role only.';
COMMENT ON FUNCTION @schema@.list_credentials(text, timestamptz, integer) IS
    'Lists Vault secrets'' metadata (id, name, description, created_at, updated_at, last retrieval), oldest '
    'update first, never values; reads every Vault secret, whatever its namespace: prefer credential_list. '
    'SECURITY DEFINER, executable by service_role only. At most 1000 rows per call.';
