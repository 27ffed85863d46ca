-- The compatibility layer as this module installed it before compat 2, kept
-- so that tests can install it and check the upgrade and doctor's report.

-- Vault compatibility layer for PostgreSQL without the supabase_vault extension.
--
-- Reproduces the public surface and privileges of supabase_vault 0.3 (table
-- vault.secrets, view vault.decrypted_secrets, vault.create_secret,
-- vault.update_secret, vault._crypto_aead_det_decrypt) with pgcrypto, so the
-- credential functions run unchanged on both. Installed only on explicit
-- opt-in (WithCompatVault / InstallCompatVault), by a superuser.
--
-- Crypto: a deterministic AEAD in SIV mode built from HMAC-SHA-256 and
-- AES-256-CBC. Two subkeys are derived from the 256-bit root key; the
-- synthetic IV is HMAC(mac_key, nonce || len(ad) || ad || plaintext) cut to 16
-- bytes and the ciphertext is AES-256-CBC(enc_key, siv, plaintext). The
-- associated data is the row id, so a ciphertext moved to another row fails to
-- decrypt (SQLSTATE 22000, as in Vault). The root key is read from
-- @keyfile@ on every use: it is never stored in a table, a setting or
-- a catalog. Template placeholders: @pgcrypto@ is the schema holding pgcrypto,
-- @keyfile@ the quoted path of the key file.

-- Supabase's API roles, created NOLOGIN when this server has none, so the
-- grants below and the credential functions' grants mean the same here.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;
END;
$roles$;

CREATE SCHEMA vault;
COMMENT ON SCHEMA vault IS 'Supabase Vault 0.3 compatible layer installed by github.com/credvault/vault (compat 1)';
REVOKE ALL ON SCHEMA vault FROM PUBLIC;

CREATE TABLE vault.secrets (
    id          uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name        text,
    description text        NOT NULL DEFAULT '',
    secret      text        NOT NULL,
    key_id      uuid,
    nonce       bytea,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX secrets_name_idx ON vault.secrets (name) WHERE name IS NOT NULL;

CREATE FUNCTION vault._compat_root_key() RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    v_raw bytea;
    v_hex text;
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

CREATE FUNCTION vault._crypto_aead_det_noncegen() RETURNS bytea
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
    SELECT @pgcrypto@.gen_random_bytes(16)
$$;

ALTER TABLE vault.secrets ALTER COLUMN nonce SET DEFAULT vault._crypto_aead_det_noncegen();

CREATE FUNCTION vault._compat_siv(p_mac_key bytea, p_nonce bytea, p_additional bytea, p_message bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT pg_catalog.substr(
        @pgcrypto@.hmac(
            p_nonce
            OPERATOR(pg_catalog.||) pg_catalog.int4send(pg_catalog.length(p_additional))
            OPERATOR(pg_catalog.||) p_additional
            OPERATOR(pg_catalog.||) p_message,
            p_mac_key, 'sha256'),
        1, 16)
$$;

CREATE FUNCTION vault._crypto_aead_det_encrypt(
    message bytea, additional bytea, key_id bigint, context bytea DEFAULT 'pgsodium', nonce bytea DEFAULT NULL)
RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    v_root bytea := vault._compat_root_key();
    v_siv  bytea;
BEGIN
    IF nonce IS NULL OR pg_catalog.length(nonce) OPERATOR(pg_catalog.<>) 16 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'vault compat: nonce must be 16 bytes';
    END IF;
    v_siv := vault._compat_siv(@pgcrypto@.hmac('credvault compat mac'::bytea, v_root, 'sha256'), nonce, additional, message);
    RETURN v_siv OPERATOR(pg_catalog.||) @pgcrypto@.encrypt_iv(
        message, @pgcrypto@.hmac('credvault compat enc'::bytea, v_root, 'sha256'), v_siv, 'aes-cbc/pad:pkcs');
END;
$$;

CREATE FUNCTION vault._crypto_aead_det_decrypt(
    message bytea, additional bytea, key_id bigint, context bytea DEFAULT 'pgsodium', nonce bytea DEFAULT NULL)
RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    v_root   bytea;
    v_siv    bytea;
    v_padded bytea;
    v_pad    int;
    v_plain  bytea;
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
    -- No padding check inside pgcrypto: a wrong key must end in the same
    -- 22000 as a tampered ciphertext, decided by the SIV check below.
    v_padded := @pgcrypto@.decrypt_iv(
        pg_catalog.substr(message, 17), @pgcrypto@.hmac('credvault compat enc'::bytea, v_root, 'sha256'),
        v_siv, 'aes-cbc/pad:none');
    v_pad := pg_catalog.get_byte(v_padded, pg_catalog.length(v_padded) OPERATOR(pg_catalog.-) 1);
    IF v_pad OPERATOR(pg_catalog.<) 1 OR v_pad OPERATOR(pg_catalog.>) 16 THEN
        RAISE EXCEPTION USING ERRCODE = '22000', MESSAGE = 'invalid ciphertext';
    END IF;
    v_plain := pg_catalog.substr(v_padded, 1, pg_catalog.length(v_padded) OPERATOR(pg_catalog.-) v_pad);
    IF vault._compat_siv(@pgcrypto@.hmac('credvault compat mac'::bytea, v_root, 'sha256'), nonce, additional, v_plain)
       OPERATOR(pg_catalog.<>) v_siv THEN
        RAISE EXCEPTION USING ERRCODE = '22000', MESSAGE = 'invalid ciphertext';
    END IF;
    RETURN v_plain;
END;
$$;

CREATE FUNCTION vault.create_secret(
    new_secret text, new_name text DEFAULT NULL, new_description text DEFAULT '', new_key_id uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    v_id    uuid  := pg_catalog.gen_random_uuid();
    v_nonce bytea := vault._crypto_aead_det_noncegen();
BEGIN
    INSERT INTO vault.secrets (id, name, description, secret, key_id, nonce)
    VALUES (
        v_id, new_name, new_description,
        pg_catalog.encode(vault._crypto_aead_det_encrypt(
            pg_catalog.convert_to(new_secret, 'utf8'), pg_catalog.convert_to(v_id::text, 'utf8'),
            0, 'pgsodium'::bytea, v_nonce), 'base64'),
        new_key_id, v_nonce);
    RETURN v_id;
END;
$$;

CREATE FUNCTION vault.update_secret(
    secret_id uuid, new_secret text DEFAULT NULL, new_name text DEFAULT NULL,
    new_description text DEFAULT NULL, new_key_id uuid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    UPDATE vault.secrets AS s
       SET secret = CASE WHEN new_secret IS NULL THEN s.secret
                         ELSE pg_catalog.encode(vault._crypto_aead_det_encrypt(
                                  pg_catalog.convert_to(new_secret, 'utf8'), pg_catalog.convert_to(s.id::text, 'utf8'),
                                  0, 'pgsodium'::bytea, s.nonce), 'base64')
                    END,
           name        = coalesce(new_name, s.name),
           description = coalesce(new_description, s.description),
           key_id      = coalesce(new_key_id, s.key_id),
           updated_at  = pg_catalog.now()
     WHERE s.id OPERATOR(pg_catalog.=) secret_id;
END;
$$;

CREATE VIEW vault.decrypted_secrets AS
SELECT s.id, s.name, s.description, s.secret,
       pg_catalog.convert_from(
           vault._crypto_aead_det_decrypt(
               pg_catalog.decode(s.secret, 'base64'), pg_catalog.convert_to(s.id::text, 'utf8'),
               0, 'pgsodium'::bytea, s.nonce),
           'utf8') AS decrypted_secret,
       s.key_id, s.nonce, s.created_at, s.updated_at
  FROM vault.secrets AS s;

REVOKE ALL ON ALL TABLES IN SCHEMA vault FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA vault FROM PUBLIC;

-- The grants Supabase gives on Vault 0.3, for the roles that exist here.
DO $grants$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'postgres' AND rolname <> current_user) THEN
        GRANT USAGE ON SCHEMA vault TO postgres WITH GRANT OPTION;
        GRANT SELECT, DELETE, TRUNCATE, REFERENCES ON vault.secrets, vault.decrypted_secrets TO postgres WITH GRANT OPTION;
        GRANT EXECUTE ON FUNCTION vault.create_secret(text, text, text, uuid),
                                  vault.update_secret(uuid, text, text, text, uuid),
                                  vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)
            TO postgres WITH GRANT OPTION;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        GRANT USAGE ON SCHEMA vault TO service_role;
        GRANT SELECT, DELETE ON vault.secrets, vault.decrypted_secrets TO service_role;
        GRANT EXECUTE ON FUNCTION vault.create_secret(text, text, text, uuid),
                                  vault.update_secret(uuid, text, text, text, uuid),
                                  vault._crypto_aead_det_decrypt(bytea, bytea, bigint, bytea, bytea)
            TO service_role;
    END IF;
END;
$grants$;

-- Fail the installation, not the first call, when the key file is unusable.
SELECT pg_catalog.length(vault._compat_root_key());
