-- Vault compatibility layer for PostgreSQL without the supabase_vault extension.
--
-- Reproduces the public surface and privileges of supabase_vault 0.3 (table
-- vault.secrets, view vault.decrypted_secrets, vault.create_secret,
-- vault.update_secret, vault._crypto_aead_det_decrypt) with pgcrypto, so the
-- credential functions run unchanged on both. Installed only on explicit
-- opt-in (WithCompatVault / InstallCompatVault), by a superuser, after
-- compat/tables.sql on a first installation; on its own to upgrade an older
-- layer in place, so every statement here may run again.
--
-- Crypto: a deterministic AEAD in SIV mode built from HMAC-SHA-256 and
-- AES-256-CBC. Two subkeys are derived from the 256-bit root key; the
-- synthetic IV is HMAC(mac_key, nonce || len(ad) || ad || plaintext) cut to 16
-- bytes and the ciphertext is AES-256-CBC(enc_key, siv, plaintext). The
-- associated data is the row id, so a ciphertext moved to another row fails to
-- decrypt (SQLSTATE 22000, as in Vault). The root key is read from
-- @keyfile@ on every use: it is never stored in a table, a setting or
-- a catalog.
--
-- Nothing here runs code another role controls. Every function is owned by
-- the installing superuser and pins search_path to pg_catalog, pg_temp (an
-- empty search_path would look type names up in the caller's pg_temp first,
-- where a caller's domain named bytea could check, and so receive, the root
-- key). pgcrypto is called only from SQL-standard bodies (BEGIN ATOMIC),
-- which PostgreSQL binds to pgcrypto's functions when they are created: the
-- root key never reaches a function looked up by name at run time, even if
-- pgcrypto's schema is later renamed. The installer checks that this schema
-- is owned by a superuser and that no other role may create objects in it.
--
-- Template placeholders: @pgcrypto@ is the quoted schema holding pgcrypto,
-- @keyfile@ the quoted path of the key file, @comment@ the quoted comment that
-- marks schema vault as this layer and records its version.

-- Supabase's API roles, created NOLOGIN when this server has none, so the
-- grants below and the credential functions' grants mean the same here.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;
END;
$roles$;

COMMENT ON SCHEMA vault IS @comment@;

CREATE OR REPLACE FUNCTION vault._compat_root_key() RETURNS pg_catalog.bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_raw pg_catalog.bytea;
    v_hex pg_catalog.text;
BEGIN
    BEGIN
        v_raw := pg_catalog.pg_read_binary_file(@keyfile@, 0, 256, true);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION USING ERRCODE = 'VA002',
            MESSAGE = 'vault compat: root key file cannot be read by the database server';
    END;
    IF v_raw IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'VA002',
            MESSAGE = 'vault compat: root key file is missing';
    END IF;
    -- Read as bytes so that a file of raw key bytes fails the hex check below
    -- instead of an encoding error that would quote them.
    v_hex := pg_catalog.btrim(pg_catalog.encode(v_raw, 'escape'), E' \t\r\n');
    IF v_hex OPERATOR(pg_catalog.!~) '^[0-9a-fA-F]{64}$' THEN
        RAISE EXCEPTION USING ERRCODE = 'VA002',
            MESSAGE = 'vault compat: root key file must hold exactly 64 hexadecimal characters';
    END IF;
    RETURN pg_catalog.decode(v_hex, 'hex');
END;
$$;

-- pgcrypto, bound at creation (BEGIN ATOMIC): the only functions that see
-- keys derived from the root key, and the root key itself through _compat_hmac.
CREATE OR REPLACE FUNCTION vault._compat_hmac(p_message pg_catalog.bytea, p_key pg_catalog.bytea)
RETURNS pg_catalog.bytea
LANGUAGE sql IMMUTABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT @pgcrypto@.hmac(p_message, p_key, 'sha256'::pg_catalog.text);
END;

CREATE OR REPLACE FUNCTION vault._compat_aes_cbc_encrypt(
    p_message pg_catalog.bytea, p_key pg_catalog.bytea, p_iv pg_catalog.bytea)
RETURNS pg_catalog.bytea
LANGUAGE sql IMMUTABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT @pgcrypto@.encrypt_iv(p_message, p_key, p_iv, 'aes-cbc/pad:pkcs'::pg_catalog.text);
END;

-- No padding check inside pgcrypto: a wrong key must end in the same 22000
-- as a tampered ciphertext, decided by the SIV check of the caller.
CREATE OR REPLACE FUNCTION vault._compat_aes_cbc_decrypt_unpadded(
    p_message pg_catalog.bytea, p_key pg_catalog.bytea, p_iv pg_catalog.bytea)
RETURNS pg_catalog.bytea
LANGUAGE sql IMMUTABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT @pgcrypto@.decrypt_iv(p_message, p_key, p_iv, 'aes-cbc/pad:none'::pg_catalog.text);
END;

CREATE OR REPLACE FUNCTION vault._crypto_aead_det_noncegen() RETURNS pg_catalog.bytea
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT @pgcrypto@.gen_random_bytes(16);
END;

ALTER TABLE vault.secrets ALTER COLUMN nonce SET DEFAULT vault._crypto_aead_det_noncegen();

CREATE OR REPLACE FUNCTION vault._compat_siv(
    p_mac_key pg_catalog.bytea, p_nonce pg_catalog.bytea, p_additional pg_catalog.bytea, p_message pg_catalog.bytea)
RETURNS pg_catalog.bytea
LANGUAGE sql IMMUTABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT pg_catalog.substr(
        @pgcrypto@.hmac(
            p_nonce
            OPERATOR(pg_catalog.||) pg_catalog.int4send(pg_catalog.length(p_additional))
            OPERATOR(pg_catalog.||) p_additional
            OPERATOR(pg_catalog.||) p_message,
            p_mac_key, 'sha256'::pg_catalog.text),
        1, 16);
END;

CREATE OR REPLACE FUNCTION vault._crypto_aead_det_encrypt(
    message pg_catalog.bytea, additional pg_catalog.bytea, key_id pg_catalog.int8,
    context pg_catalog.bytea DEFAULT 'pgsodium', nonce pg_catalog.bytea DEFAULT NULL)
RETURNS pg_catalog.bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_root pg_catalog.bytea := vault._compat_root_key();
    v_siv  pg_catalog.bytea;
BEGIN
    IF nonce IS NULL OR pg_catalog.length(nonce) OPERATOR(pg_catalog.<>) 16 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'vault compat: nonce must be 16 bytes';
    END IF;
    v_siv := vault._compat_siv(vault._compat_hmac('credvault compat mac'::pg_catalog.bytea, v_root), nonce, additional, message);
    RETURN v_siv OPERATOR(pg_catalog.||) vault._compat_aes_cbc_encrypt(
        message, vault._compat_hmac('credvault compat enc'::pg_catalog.bytea, v_root), v_siv);
END;
$$;

CREATE OR REPLACE FUNCTION vault._crypto_aead_det_decrypt(
    message pg_catalog.bytea, additional pg_catalog.bytea, key_id pg_catalog.int8,
    context pg_catalog.bytea DEFAULT 'pgsodium', nonce pg_catalog.bytea DEFAULT NULL)
RETURNS pg_catalog.bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_root   pg_catalog.bytea;
    v_siv    pg_catalog.bytea;
    v_padded pg_catalog.bytea;
    v_pad    pg_catalog.int4;
    v_plain  pg_catalog.bytea;
BEGIN
    IF message IS NULL THEN
        RETURN NULL;
    END IF;
    IF nonce IS NULL
       OR pg_catalog.length(message) OPERATOR(pg_catalog.<) 32
       OR pg_catalog.length(message) OPERATOR(pg_catalog.%) 16 OPERATOR(pg_catalog.<>) 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22000', MESSAGE = 'invalid ciphertext';
    END IF;
    v_root := vault._compat_root_key();
    v_siv := pg_catalog.substr(message, 1, 16);
    v_padded := vault._compat_aes_cbc_decrypt_unpadded(
        pg_catalog.substr(message, 17), vault._compat_hmac('credvault compat enc'::pg_catalog.bytea, v_root), v_siv);
    v_pad := pg_catalog.get_byte(v_padded, pg_catalog.length(v_padded) OPERATOR(pg_catalog.-) 1);
    IF v_pad OPERATOR(pg_catalog.<) 1 OR v_pad OPERATOR(pg_catalog.>) 16 THEN
        RAISE EXCEPTION USING ERRCODE = '22000', MESSAGE = 'invalid ciphertext';
    END IF;
    v_plain := pg_catalog.substr(v_padded, 1, pg_catalog.length(v_padded) OPERATOR(pg_catalog.-) v_pad);
    IF vault._compat_siv(vault._compat_hmac('credvault compat mac'::pg_catalog.bytea, v_root), nonce, additional, v_plain)
       OPERATOR(pg_catalog.<>) v_siv THEN
        RAISE EXCEPTION USING ERRCODE = '22000', MESSAGE = 'invalid ciphertext';
    END IF;
    RETURN v_plain;
END;
$$;

CREATE OR REPLACE FUNCTION vault.create_secret(
    new_secret pg_catalog.text, new_name pg_catalog.text DEFAULT NULL,
    new_description pg_catalog.text DEFAULT '', new_key_id pg_catalog.uuid DEFAULT NULL)
RETURNS pg_catalog.uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id    pg_catalog.uuid  := pg_catalog.gen_random_uuid();
    v_nonce pg_catalog.bytea := vault._crypto_aead_det_noncegen();
BEGIN
    INSERT INTO vault.secrets (id, name, description, secret, key_id, nonce)
    VALUES (
        v_id, new_name, new_description,
        pg_catalog.encode(vault._crypto_aead_det_encrypt(
            pg_catalog.convert_to(new_secret, 'utf8'), pg_catalog.convert_to(v_id::pg_catalog.text, 'utf8'),
            0, 'pgsodium'::pg_catalog.bytea, v_nonce), 'base64'),
        new_key_id, v_nonce);
    RETURN v_id;
END;
$$;

CREATE OR REPLACE FUNCTION vault.update_secret(
    secret_id pg_catalog.uuid, new_secret pg_catalog.text DEFAULT NULL, new_name pg_catalog.text DEFAULT NULL,
    new_description pg_catalog.text DEFAULT NULL, new_key_id pg_catalog.uuid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE vault.secrets AS s
       SET secret = CASE WHEN new_secret IS NULL THEN s.secret
                         ELSE pg_catalog.encode(vault._crypto_aead_det_encrypt(
                                  pg_catalog.convert_to(new_secret, 'utf8'), pg_catalog.convert_to(s.id::pg_catalog.text, 'utf8'),
                                  0, 'pgsodium'::pg_catalog.bytea, s.nonce), 'base64')
                    END,
           name        = coalesce(new_name, s.name),
           description = coalesce(new_description, s.description),
           key_id      = coalesce(new_key_id, s.key_id),
           updated_at  = pg_catalog.now()
     WHERE s.id OPERATOR(pg_catalog.=) secret_id;
END;
$$;

CREATE OR REPLACE VIEW vault.decrypted_secrets AS
SELECT s.id, s.name, s.description, s.secret,
       pg_catalog.convert_from(
           vault._crypto_aead_det_decrypt(
               pg_catalog.decode(s.secret, 'base64'), pg_catalog.convert_to(s.id::pg_catalog.text, 'utf8'),
               0, 'pgsodium'::pg_catalog.bytea, s.nonce),
           'utf8') AS decrypted_secret,
       s.key_id, s.nonce, s.created_at, s.updated_at
  FROM vault.secrets AS s;

REVOKE ALL ON ALL TABLES IN SCHEMA vault FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vault FROM PUBLIC;

-- The grants Supabase gives on Vault 0.3, for the roles that exist here.
DO $grants$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles
                WHERE rolname OPERATOR(pg_catalog.=) 'postgres' AND rolname OPERATOR(pg_catalog.<>) current_user) THEN
        GRANT USAGE ON SCHEMA vault TO postgres WITH GRANT OPTION;
        GRANT SELECT, DELETE, TRUNCATE, REFERENCES ON vault.secrets, vault.decrypted_secrets TO postgres WITH GRANT OPTION;
        GRANT EXECUTE ON FUNCTION vault.create_secret(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.uuid),
                                  vault.update_secret(pg_catalog.uuid, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.uuid),
                                  vault._crypto_aead_det_decrypt(pg_catalog.bytea, pg_catalog.bytea, pg_catalog.int8, pg_catalog.bytea, pg_catalog.bytea)
            TO postgres WITH GRANT OPTION;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'service_role') THEN
        GRANT USAGE ON SCHEMA vault TO service_role;
        GRANT SELECT, DELETE ON vault.secrets, vault.decrypted_secrets TO service_role;
        GRANT EXECUTE ON FUNCTION vault.create_secret(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.uuid),
                                  vault.update_secret(pg_catalog.uuid, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.uuid),
                                  vault._crypto_aead_det_decrypt(pg_catalog.bytea, pg_catalog.bytea, pg_catalog.int8, pg_catalog.bytea, pg_catalog.bytea)
            TO service_role;
    END IF;
END;
$grants$;

-- Fail the installation, not the first call, when the key file is unusable,
-- and an upgrade when the key file does not decrypt the secrets already
-- stored (22000): the layer reads its key from the path given to this run.
SELECT pg_catalog.length(vault._compat_root_key());
SELECT pg_catalog.length(s.decrypted_secret) FROM vault.decrypted_secrets AS s LIMIT 1;
