-- Plaintext guard: integration tables must hold Vault secret ids, never the
-- credentials themselves. A BEFORE INSERT OR UPDATE trigger rejects rows in
-- which any (changed) column looks like an API key, token, password or private
-- key, so a plaintext credential never reaches the table, its WAL or backups.

CREATE OR REPLACE FUNCTION @schema@.plaintext_credential_kind(p_value text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    -- Cheap anchors: a value matching neither prefilter cannot match any detector.
    pf_cs CONSTANT text := $re$AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|gl(?:pat|dt|rt|ptt|cbt|oas|imt|soat|ffct|agent|ft|wt)-|GR1348941|[sr]k_(?:live|test)_|whsec_|xox[abposre]-|xapp-|hooks\.slack\.com/|AIza|GOCSPX-|ya29\.|sk-|SK[0-9a-f]{32}|SG\.|key-[0-9a-z]{32}|npm_|pypi-|shp(?:at|ss|ca|pa)_|pat-(?:na|eu|ap)[0-9]|AT[AC]TT|do[por]_v1_|HRKU-|EAAA|sq0(?:csp|atp)-|[MNO][A-Za-z0-9_-]{23,27}\.|[0-9]:AA|eyJ|hf_|lin_api_|PMAK-|ntn_|secret_|dapi|dp\.|NRAK-|sbp_|sb_secret_|gl(?:sa|c)_|sntr[ysu]_|pat[A-Za-z0-9]{14}\.|-us[0-9]|[0-9]Q~|AGE-SECRET-KEY-$re$;
    pf_ci CONSTANT text := $re$(?:key|secret|token|pass(?:word|wd|phrase)?|pwd|credentials?|auth)["'\\]*\s*(?:=|:)|authorization|bearer\s|basic\s|private\s*key|accountkey|sig=|heroku|://[^\s/@]*:[^\s/@]*@|\\u[0-9a-f]{4}|\\/$re$;

    -- Provider formats (case-sensitive). One capture group per entry of p_labels,
    -- inner groups are non-capturing. Lookarounds are token boundaries; they are
    -- dropped for the whitespace-joined variant.
    p_re CONSTANT text :=
           $re$(?<![A-Za-z0-9+/_-])((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})(?![A-Za-z0-9_])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(gl(?:pat|dt|rt|ptt|cbt|oas|imt|soat|ffct|agent|ft|wt)-[A-Za-z0-9_.-]{20,}|GR1348941[A-Za-z0-9_-]{20,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(sk_(?:live|test)_[A-Za-z0-9]{20,})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(rk_(?:live|test)_[A-Za-z0-9]{20,})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(whsec_[A-Za-z0-9+/=]{24,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(xox[abposre]-[0-9A-Za-z]{8,}-[0-9A-Za-z-]{10,}|xapp-[0-9]-[0-9A-Za-z-]{24,})$re$
        || $re$|(hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(GOCSPX-[0-9A-Za-z_-]{24,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(ya29\.[0-9A-Za-z_.-]{20,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(sk-ant-(?:api|admin|sid|oat|ort)[0-9]{2}-[A-Za-z0-9_-]{32,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|sk-[A-Za-z0-9]{48})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(SK[0-9a-f]{32})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,50})(?![A-Za-z0-9_-])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(key-[0-9a-z]{32})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(pat-(?:na|eu|ap)[0-9]-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(AT[AC]TT3[A-Za-z0-9_=+/-]{60,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(do[por]_v1_[a-f0-9]{64})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(HRKU-[A-Za-z0-9_-]{50,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(EAAA[A-Za-z0-9_-]{60,}|sq0(?:csp|atp)-[A-Za-z0-9_-]{22,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])([MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,})(?![A-Za-z0-9_-])$re$
        || $re$|(?<![0-9])([0-9]{8,10}:AA[A-Za-z0-9_-]{33})(?![A-Za-z0-9_-])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(hf_[A-Za-z0-9]{34,})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(lin_api_[A-Za-z0-9]{40})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(PMAK-[a-f0-9]{24}-[a-f0-9]{34})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(ntn_[A-Za-z0-9]{40,}|secret_[A-Za-z0-9]{43})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(dapi[a-f0-9]{32}(?:-[0-9])?)(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(NRAK-[A-Z0-9]{27})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(sbp_[a-f0-9]{40}|sb_secret_[A-Za-z0-9_-]{20,})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9+/_-])(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(sntr[ysu]_[A-Za-z0-9+/=_.-]{40,})$re$
        || $re$|(?<![A-Za-z0-9+/_-])(pat[A-Za-z0-9]{14}\.[a-f0-9]{64})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9])([0-9a-f]{32}-us[0-9]{1,2})(?![A-Za-z0-9])$re$
        || $re$|(?<![A-Za-z0-9_~.-])([A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])$re$
        || $re$|(AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58})$re$;
    p_labels CONSTANT text[] := ARRAY[
        'AWS access key id', 'GitHub token', 'GitLab token', 'Stripe secret key',
        'Stripe restricted key', 'Stripe webhook secret', 'Slack token', 'Slack webhook URL',
        'Google API key', 'Google OAuth client secret', 'Google OAuth access token',
        'Anthropic API key', 'OpenAI API key', 'Twilio API key SID', 'SendGrid API key',
        'Mailgun API key', 'npm token', 'PyPI token', 'Shopify access token',
        'HubSpot private app token', 'Atlassian API token', 'DigitalOcean token',
        'Heroku API key', 'Square credential', 'Discord bot token', 'Telegram bot token',
        'JWT', 'Hugging Face token', 'Linear API key', 'Postman API key', 'Notion token',
        'Databricks token', 'Doppler token', 'New Relic API key', 'Supabase secret key',
        'Grafana token', 'Sentry token', 'Airtable token', 'Mailchimp API key',
        'Azure AD client secret', 'age secret key'];

    -- Formats needing case-insensitive matching (one group per c_labels entry).
    c_re CONSTANT text :=
           $re$(-----\s*begin[ a-z0-9_-]*private\s*key(?:\s*block)?\s*-----[^-]*[a-z0-9+/]{40})$re$
        || $re$|(accountkey\s*=\s*[a-z0-9+/]{40,}={0,2})$re$
        || $re$|([?&;]sig=[a-z0-9%+/]{30,})$re$
        || $re$|(heroku[a-z0-9_.-]*(?:key|token)["'\\]*\s*[:=]\s*["'\\]*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$re$
        || $re$|(aws[a-z0-9_.-]*secret[a-z0-9_.-]*["'\\]*\s*[:=]\s*["'\\]*[a-z0-9/+]{40})(?![a-z0-9/+])$re$;
    c_labels CONSTANT text[] := ARRAY[
        'private key (PEM)', 'Azure storage account key', 'Azure SAS signature',
        'Heroku API key', 'AWS secret access key'];

    -- name = value / "name": "value" / Name: value, for credential-like names.
    a_re CONSTANT text := $re$([a-z0-9_.-]*(?:api[_.-]?key|apikey|api[_.-]?secret|api[_.-]?token|access[_.-]?key|secret[_.-]?key|private[_.-]?key|signing[_.-]?key|encryption[_.-]?key|master[_.-]?key|app[_.-]?key|secret|token|password|passwd|pwd|passphrase|credentials?|auth))["'\\]*\s*(?:=>|:=|=|:)\s*["'\\]*([^\s"'`,;&<>{}()\[\]\\|]+)$re$;
    u_re CONSTANT text := $re$[a-z][a-z0-9+.-]*://[^\s/?#@:"'<>\\]*:([^\s/?@"'<>\\]+)@[a-z0-9\[]$re$;
    h_re CONSTANT text := $re$authorization["'\\]*\s*[:=]\s*["'\\]*(?:(bearer|basic|token|bot|apikey|api-key|key|sso-key)\s+)?([a-z0-9._~+/-]{8,}=*)|(?:^|[^a-z0-9_-])(bearer|basic)\s+([a-z0-9._~+/-]{8,}=*)$re$;

    placeholder_re CONSTANT text := $re$^(?:[*x.#?_-]+|0+|none|null|nil|undefined|true|false|empty|redacted|removed|hidden|masked|changeme|change[_-]?me|placeholder|example|sample|dummy|test|todo|tbd|n/a|secret|password|passwd|pass|pwd|token|(?:your|my|the)[_-].*|.*[_-]here|[$%{<\[].*|.*\*{3,}.*|.*x{6,}.*|.*(?:example|redacted|placeholder|changeme).*|(?:env|file|vault|secret|secrets|ssm|awssm|secretsmanager|gsm|gcp|azure|kv|keyvault|op|doppler|infisical|arn|ref|secretref|sm)[:/].*|projects/.*|[a-z][a-z0-9+.-]*://.*|[0-9]{4}-[0-9]{2}-[0-9]{2}.*|v?[0-9]+(?:\.[0-9]+){1,3}(?:[-+].*)?|[^@\s]+@[^@\s]+\.[a-z]{2,})$$re$;
    uuid_re CONSTANT text := $re$^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$$re$;
    dummy_re CONSTANT text := $re$(.)\1{7,}|EXAMPLE|[Ee]xample|0123456789|abcdefghij|ABCDEFGHIJ$re$;

    texts text[];
    loose_flags boolean[];
    x text;
    d text;
    i int;
    j int;
    k int;
    loose boolean;
    re text;
    m text[];
    tok text;
    nm text;
    val text;
    alnum int;
    runs int;
    ok boolean;
    cand_vals text[];
    cand_kinds text[];
    b bytea;
BEGIN
    IF p_value IS NULL OR pg_catalog.length(p_value) < 8 THEN
        RETURN NULL;
    END IF;

    -- Fast path: nothing credential-like as-is, with whitespace removed, or escaped.
    IF p_value !~ pf_cs AND p_value !~* pf_ci THEN
        IF p_value !~ '\s|\\[nrtbf]' THEN
            RETURN NULL;
        END IF;
        x := pg_catalog.regexp_replace(p_value, '\s+|\\[nrtbf]', '', 'g');
        IF x !~ pf_cs AND x !~* pf_ci THEN
            RETURN NULL;
        END IF;
    END IF;

    -- Variants: the value, then up to three rounds of JSON unescaping.
    texts := ARRAY[p_value];
    d := p_value;
    FOR i IN 1..3 LOOP
        EXIT WHEN d !~ '\\(?:u[0-9a-fA-F]{4}|[nrtbf"/\\])';
        SELECT pg_catalog.string_agg(
                   CASE WHEN e.m[1] ~ '^\\u[0-9a-fA-F]{4}$'
                        THEN CASE WHEN e.c BETWEEN 32 AND 126 THEN pg_catalog.chr(e.c)
                                  WHEN e.c IN (9, 10, 13) THEN ' '
                                  ELSE '?' END
                        WHEN e.m[1] ~ '^\\[nrtbf]$' THEN ' '
                        WHEN e.m[1] ~ '^\\' THEN pg_catalog.substr(e.m[1], 2)
                        ELSE e.m[1]
                   END, '' ORDER BY e.o)
          INTO x
          FROM (SELECT t.m, t.o,
                       CASE WHEN t.m[1] ~ '^\\u[0-9a-fA-F]{4}$'
                            THEN (('x' || pg_catalog.substr(t.m[1], 3, 4))::pg_catalog.bit(16))::integer
                       END AS c
                  FROM pg_catalog.regexp_matches(d, '(\\u[0-9a-fA-F]{4}|\\.|[^\\]+|\\)', 'g')
                       WITH ORDINALITY AS t(m, o)) AS e;
        EXIT WHEN x = d;
        texts := texts || x;
        d := x;
    END LOOP;

    -- Each variant as-is (strict), then with whitespace runs removed (loose:
    -- token boundaries dropped, so every hit must also look random).
    loose_flags := ARRAY[]::boolean[];
    FOR i IN 1..pg_catalog.array_length(texts, 1) LOOP
        loose_flags := loose_flags || false;
    END LOOP;
    FOR i IN 1..pg_catalog.array_length(texts, 1) LOOP
        IF texts[i] ~ '\s' THEN
            texts := texts || pg_catalog.regexp_replace(texts[i], '\s+', '', 'g');
            loose_flags := loose_flags || true;
        END IF;
    END LOOP;

    FOR i IN 1..pg_catalog.array_length(texts, 1) LOOP
        x := texts[i];
        loose := loose_flags[i];

        -- 1. provider formats
        re := p_re;
        IF loose THEN
            re := pg_catalog.regexp_replace(re, '\(\?<?[=!][^()]*\)', '', 'g');
        END IF;
        IF x ~ re THEN
            FOR m IN SELECT pg_catalog.regexp_matches(x, re, 'g') LOOP
                k := NULL;
                FOR j IN 1..pg_catalog.array_length(m, 1) LOOP
                    IF m[j] IS NOT NULL THEN k := j; EXIT; END IF;
                END LOOP;
                CONTINUE WHEN k IS NULL;
                tok := m[k];
                CONTINUE WHEN tok ~ dummy_re;
                alnum := pg_catalog.length(pg_catalog.regexp_replace(tok, '[^A-Za-z0-9]', '', 'g'));
                runs := pg_catalog.length(pg_catalog.regexp_replace(
                            pg_catalog.regexp_replace(tok, '[^A-Za-z0-9]', '', 'g'),
                            '[a-z]+|[A-Z]+|[0-9]+', 'x', 'g'));
                IF loose THEN
                    CONTINUE WHEN tok !~ '[0-9]' OR tok !~ '[A-Za-z]';
                END IF;
                IF loose OR p_labels[k] IN ('Square credential', 'Twilio API key SID', 'Mailchimp API key') THEN
                    CONTINUE WHEN runs < GREATEST(3, alnum / 6);
                END IF;
                IF p_labels[k] = 'Discord bot token' THEN
                    -- the first segment is the base64 of a numeric user id
                    nm := pg_catalog.translate(pg_catalog.split_part(tok, '.', 1), '-_', '+/');
                    CONTINUE WHEN pg_catalog.length(nm) % 4 = 1;
                    nm := nm || pg_catalog.repeat('=', (4 - pg_catalog.length(nm) % 4) % 4);
                    CONTINUE WHEN pg_catalog.encode(pg_catalog.decode(nm, 'base64'), 'escape') !~ '^[0-9]{15,21}$';
                END IF;
                RETURN p_labels[k];
            END LOOP;
        END IF;

        -- 2. case-insensitive fixed formats
        re := c_re;
        IF loose THEN
            re := pg_catalog.regexp_replace(re, '\(\?<?[=!][^()]*\)', '', 'g');
        END IF;
        IF x ~* re THEN
            FOR m IN SELECT pg_catalog.regexp_matches(x, re, 'gi') LOOP
                k := NULL;
                FOR j IN 1..pg_catalog.array_length(m, 1) LOOP
                    IF m[j] IS NOT NULL THEN k := j; EXIT; END IF;
                END LOOP;
                CONTINUE WHEN k IS NULL;
                tok := m[k];
                IF loose THEN
                    CONTINUE WHEN tok !~ '[0-9]' OR tok !~ '[A-Za-z]';
                    alnum := pg_catalog.length(pg_catalog.regexp_replace(tok, '[^A-Za-z0-9]', '', 'g'));
                    runs := pg_catalog.length(pg_catalog.regexp_replace(
                                pg_catalog.regexp_replace(tok, '[^A-Za-z0-9]', '', 'g'),
                                '[a-z]+|[A-Z]+|[0-9]+', 'x', 'g'));
                    CONTINUE WHEN runs < GREATEST(3, alnum / 6);
                END IF;
                RETURN c_labels[k];
            END LOOP;
        END IF;

        -- 3. URL with an inline password
        IF x ~* u_re THEN
            FOR m IN SELECT pg_catalog.regexp_matches(x, u_re, 'gi') LOOP
                val := m[1];
                CONTINUE WHEN pg_catalog.length(val) < 4 OR val ~* placeholder_re;
                IF loose THEN
                    CONTINUE WHEN val !~ '[0-9]' OR val !~ '[A-Za-z]';
                END IF;
                RETURN 'URL with embedded password';
            END LOOP;
        END IF;

        -- 4. Authorization header, Bearer / Basic credentials
        cand_vals := ARRAY[]::text[];
        cand_kinds := ARRAY[]::text[];
        IF x ~* h_re THEN
            FOR m IN SELECT pg_catalog.regexp_matches(x, h_re, 'gi') LOOP
                nm := pg_catalog.lower(COALESCE(m[1], m[3], ''));
                val := COALESCE(m[2], m[4]);
                CONTINUE WHEN val IS NULL OR val ~* placeholder_re OR val ~* uuid_re;
                IF nm = 'basic' THEN
                    CONTINUE WHEN val !~ '^[A-Za-z0-9+/]+={0,2}$' OR pg_catalog.length(val) % 4 <> 0;
                    b := pg_catalog.decode(val, 'base64');
                    CONTINUE WHEN pg_catalog.encode(b, 'escape') !~ '^[!-~]+:[ -~]{3,}$'
                               OR pg_catalog.encode(b, 'escape') ~ '\\';
                    RETURN 'HTTP Basic credentials';
                END IF;
                cand_vals := cand_vals || val;
                cand_kinds := cand_kinds || 'bearer token (Authorization header)'::text;
            END LOOP;
        END IF;

        -- 5. credential-named assignment
        IF x ~* a_re THEN
            FOR m IN SELECT pg_catalog.regexp_matches(x, a_re, 'gi') LOOP
                nm := pg_catalog.lower(m[1]);
                val := pg_catalog.rtrim(m[2], '.:');
                CONTINUE WHEN nm ~ '(?:page|sync|next|prev|continuation|cursor|delta|resume|change|state|csrf|xsrf|verify|verification|token[_.-]?type|idempotency)[_.-]?(?:token|key)$';
                CONTINUE WHEN val ~* placeholder_re OR val ~* uuid_re OR val !~ '[0-9]' OR val !~ '[A-Za-z]';
                IF nm ~ '(?:pass(?:word|wd|phrase)?|pwd)$' THEN
                    -- passwords are often human-made: length, a letter and a digit suffice
                    runs := pg_catalog.length(pg_catalog.regexp_replace(
                                pg_catalog.regexp_replace(val, '[^A-Za-z0-9]', '', 'g'),
                                '[a-z]+|[A-Z]+|[0-9]+', 'x', 'g'));
                    CONTINUE WHEN pg_catalog.length(val) < 8 OR (loose AND runs < 4);
                    RETURN 'password assignment';
                END IF;
                cand_vals := cand_vals || val;
                cand_kinds := cand_kinds || CASE
                    WHEN nm ~ 'aws' AND nm ~ 'secret' THEN 'AWS secret access key'
                    WHEN nm ~ 'twilio' THEN 'Twilio auth token'
                    WHEN nm ~ 'client[_.-]?secret$' THEN 'client_secret assignment'
                    WHEN nm ~ 'private[_.-]?key$' THEN 'private key assignment'
                    WHEN nm ~ 'secret$' THEN 'secret assignment'
                    WHEN nm ~ '(?:token|auth)$' THEN 'token assignment'
                    ELSE 'api_key assignment'
                END;
            END LOOP;
        END IF;

        -- Tokens from 4 and 5 must look random: long, letters and digits,
        -- frequent class changes, and not made of words (camelCase words or
        -- separated all-letter segments covering half of it).
        FOR j IN 1..COALESCE(pg_catalog.array_length(cand_vals, 1), 0) LOOP
            val := cand_vals[j];
            SELECT pg_catalog.length(val) >= 16
                   AND val ~ '[0-9]' AND val ~ '[A-Za-z]'
                   AND s.runs >= GREATEST(4, s.alnum / 6)
                   AND NOT (val ~ '[a-z]' AND val ~ '[A-Z]' AND s.words * 2 >= s.alnum)
                   AND s.letter_segs * 2 < s.alnum
              INTO ok
              FROM (SELECT pg_catalog.length(q.a) AS alnum,
                           pg_catalog.length(pg_catalog.regexp_replace(q.a, '[a-z]+|[A-Z]+|[0-9]+', 'x', 'g')) AS runs,
                           (SELECT COALESCE(pg_catalog.sum(pg_catalog.length(w.w[1])), 0)
                              FROM pg_catalog.regexp_matches(val, '([A-Z]?[a-z]{4,})', 'g') AS w(w)
                             WHERE pg_catalog.length(pg_catalog.regexp_replace(w.w[1], '[^aeiouyAEIOUY]', '', 'g')) * 4
                                   >= pg_catalog.length(w.w[1])) AS words,
                           (SELECT COALESCE(pg_catalog.sum(pg_catalog.length(g.g)), 0)
                              FROM pg_catalog.regexp_split_to_table(val, '[^A-Za-z0-9]+') AS g(g)
                             WHERE g.g ~ '^[A-Za-z]+$') AS letter_segs
                      FROM (SELECT pg_catalog.regexp_replace(val, '[^A-Za-z0-9]', '', 'g') AS a) AS q) AS s;
            IF ok THEN
                RETURN cand_kinds[j];
            END IF;
        END LOOP;
    END LOOP;

    RETURN NULL;
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_credential_kind(text) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_credential_kind(text) IS
'Returns a short label of the kind of plaintext credential (API key, token, password, private key, credential URL) that the value appears to contain, or NULL. Never returns any part of the value. Detection uses published provider formats plus credential-named assignments with random-looking values, checked as-is, with whitespace runs removed and with JSON escapes decoded. SECURITY DEFINER with a pinned search_path, executable by the owner only; used by reject_plaintext_credentials().';

CREATE OR REPLACE FUNCTION @schema@.reject_plaintext_credentials()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    -- Same anchors as plaintext_credential_kind(); applied to the whole row first.
    pf_cs CONSTANT text := $re$AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|gl(?:pat|dt|rt|ptt|cbt|oas|imt|soat|ffct|agent|ft|wt)-|GR1348941|[sr]k_(?:live|test)_|whsec_|xox[abposre]-|xapp-|hooks\.slack\.com/|AIza|GOCSPX-|ya29\.|sk-|SK[0-9a-f]{32}|SG\.|key-[0-9a-z]{32}|npm_|pypi-|shp(?:at|ss|ca|pa)_|pat-(?:na|eu|ap)[0-9]|AT[AC]TT|do[por]_v1_|HRKU-|EAAA|sq0(?:csp|atp)-|[MNO][A-Za-z0-9_-]{23,27}\.|[0-9]:AA|eyJ|hf_|lin_api_|PMAK-|ntn_|secret_|dapi|dp\.|NRAK-|sbp_|sb_secret_|gl(?:sa|c)_|sntr[ysu]_|pat[A-Za-z0-9]{14}\.|-us[0-9]|[0-9]Q~|AGE-SECRET-KEY-$re$;
    pf_ci CONSTANT text := $re$(?:key|secret|token|pass(?:word|wd|phrase)?|pwd|credentials?|auth)["'\\]*\s*(?:=|:)|authorization|bearer\s|basic\s|private\s*key|accountkey|sig=|heroku|://[^\s/@]*:[^\s/@]*@|\\u[0-9a-f]{4}|\\/$re$;
    -- Column names that give their value assignment context.
    name_re CONSTANT text := $re$(?:api[_.-]?key|apikey|api[_.-]?secret|api[_.-]?token|access[_.-]?key|secret[_.-]?key|private[_.-]?key|signing[_.-]?key|encryption[_.-]?key|master[_.-]?key|app[_.-]?key|secret|token|password|passwd|pwd|passphrase|credentials?)$$re$;
    new_row json;
    old_row json;
    row_text text;
    col text;
    val text;
    kind text;
BEGIN
    new_row := pg_catalog.to_json(NEW);
    row_text := new_row::text;
    IF row_text !~ pf_cs AND row_text !~* pf_ci THEN
        row_text := pg_catalog.regexp_replace(row_text, '\s+|\\[nrtbf]', '', 'g');
        IF row_text !~ pf_cs AND row_text !~* pf_ci THEN
            RETURN NEW;
        END IF;
    END IF;

    IF TG_OP = 'UPDATE' THEN
        old_row := pg_catalog.to_json(OLD);
    END IF;

    FOR col, val IN
        SELECT n.key, n.value
          FROM pg_catalog.json_each_text(new_row) AS n
         WHERE n.value IS NOT NULL
           AND (old_row IS NULL OR n.value IS DISTINCT FROM (old_row ->> n.key))
    LOOP
        IF col ~* name_re THEN
            kind := @schema@.plaintext_credential_kind(col || '=' || val);
        ELSE
            kind := @schema@.plaintext_credential_kind(val);
        END IF;
        IF kind IS NOT NULL THEN
            RAISE EXCEPTION USING
                ERRCODE = 'VA001',
                MESSAGE = pg_catalog.format('plaintext credential rejected: column %I of %I.%I looks like a %s',
                                            col, TG_TABLE_SCHEMA, TG_TABLE_NAME, kind),
                HINT = 'store the value with store_credential() and keep only the returned secret id';
        END IF;
    END LOOP;

    RETURN NEW;
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.reject_plaintext_credentials() FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.reject_plaintext_credentials() IS
'Trigger function (BEFORE INSERT OR UPDATE, FOR EACH ROW): raises SQLSTATE VA001 when a column of the new row (on UPDATE: a changed column) looks like a plaintext credential, including string leaves of json/jsonb values and JSON documents stored as text. The error names the column and the kind of credential, never the value. SECURITY DEFINER with a pinned search_path, executable by the owner only; attach it with guard_plaintext_credentials().';

CREATE OR REPLACE FUNCTION @schema@.guard_plaintext_credentials(target regclass)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    fn_schema text;
BEGIN
    IF target IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = '22004',
            MESSAGE = 'guard_plaintext_credentials: argument "target" must not be NULL';
    END IF;

    -- The name of this function's schema, taken from an identifier (a column
    -- alias) so that the migration template needs no string literal for it.
    SELECT k INTO STRICT fn_schema
      FROM pg_catalog.json_object_keys(pg_catalog.to_json((SELECT s FROM (SELECT 1 AS @schema@) AS s))) AS k;

    EXECUTE pg_catalog.format(
        'CREATE OR REPLACE TRIGGER credvault_reject_plaintext BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %I.reject_plaintext_credentials()',
        target, fn_schema);
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.guard_plaintext_credentials(regclass) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.guard_plaintext_credentials(regclass) IS
'Attaches (idempotently) the trigger credvault_reject_plaintext, which runs reject_plaintext_credentials() BEFORE INSERT OR UPDATE FOR EACH ROW, to the table target. Raises 22004 when target is NULL. SECURITY DEFINER with a pinned search_path, executable by the owner only (it can add triggers to any table the owner owns); call it from migrations for every table that must keep only Vault secret ids.';

DO $do$
BEGIN
    IF pg_catalog.to_regclass('public.organization_integrations') IS NOT NULL THEN
        PERFORM @schema@.guard_plaintext_credentials(pg_catalog.to_regclass('public.organization_integrations'));
    END IF;
END;
$do$;
