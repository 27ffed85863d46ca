-- Plaintext guard: integration tables must hold Vault secret ids, never the
-- credentials themselves. A BEFORE INSERT OR UPDATE trigger rejects rows in
-- which any (changed) column looks like an API key, token, password or private
-- key, so a plaintext credential never reaches the table, its WAL or backups.

CREATE OR REPLACE FUNCTION @schema@.plaintext_credential_candidate(p_value text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    -- Prefilters: a value none of them matches, as-is or with line breaks
    -- (raw or JSON-escaped) removed, is not a credential. They are kept
    -- separate because PostgreSQL runs three small regexes much faster than
    -- their union.
    pf_run CONSTANT text := '[A-Za-z0-9]{20}';
    pf_cs CONSTANT text := $re$AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|gldt-|glrt-|glsa_|GR1348941|[sr]k_live_|[sr]k_test_|whsec_|xox[abposre]-|xapp-|AIza|GOCSPX-|ya29\.|sk-ant-|sk-proj-|sk-svcacct-|SG\.|npm_|pypi-|shpat_|shpss_|pat-na|pat-eu|HRKU-|sq0csp-|sq0atp-|:AA|sb_secret_|Q~|eyJ|sig=|\\u|\\/$re$;
    pf_ci CONSTANT text := $re$private[ _]?key|authorization|bearer\s|basic\s|accountkey|://[^\s/@]*:[^\s/@]*@|(?:key|secret|token|pass(?:word|wd|phrase)?|pwd|credentials?|auth)[^a-z0-9_.-]{0,3}[=:]$re$;
    x text;
BEGIN
    IF p_value ~ pf_run OR p_value ~* pf_ci OR p_value ~ pf_cs THEN
        RETURN true;
    END IF;
    x := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
             pg_catalog.replace(p_value, pg_catalog.chr(10), ''), pg_catalog.chr(13), ''), pg_catalog.chr(9), ''),
             '\n', ''), '\r', ''), '\t', '');
    RETURN x <> p_value AND (x ~ pf_run OR x ~ pf_cs);
END;
$fn$;

REVOKE ALL ON FUNCTION @schema@.plaintext_credential_candidate(text) FROM PUBLIC, anon, authenticated, service_role;

COMMENT ON FUNCTION @schema@.plaintext_credential_candidate(text) IS
'Cheap prefilter of the plaintext guard: false when the value cannot contain any credential plaintext_credential_kind() detects. SECURITY DEFINER with a pinned search_path, executable by the owner only.';

CREATE OR REPLACE FUNCTION @schema@.plaintext_credential_kind(p_value text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    x text;
BEGIN
    IF p_value IS NULL OR pg_catalog.length(p_value) < 8 THEN
        RETURN NULL;
    END IF;
    IF NOT @schema@.plaintext_credential_candidate(p_value) THEN
        RETURN NULL;
    END IF;

    DECLARE
        -- Provider formats: the anchor (a substring every match contains), the
        -- pattern (one capture group; %L% and %T%-style markers are token
        -- boundaries, dropped for the whitespace-joined variant), the label and
        -- extra checks (r: must look random, d: Discord user id segment).
        anchors CONSTANT text[] := ARRAY[
            'AKIA', 'ASIA', 'ABIA', 'ACCA',
            'gh', 'github_pat_', 'gl', 'GR1348941',
            'sk_', 'rk_', 'whsec_', 'xox', 'xapp-', 'hooks.slack.com/',
            'AIza', 'GOCSPX-', 'ya29.',
            'sk-ant-', 'sk-', 'SK', 'SG.', 'key-', 'npm_', 'pypi-AgEI',
            'shp', 'pat-', 'TT3', '_v1_', 'HRKU-', 'EAAA', 'sq0',
            '.', ':AA', 'eyJ', 'hf_', 'lin_api_', 'PMAK-', 'ntn_', 'secret_',
            'dapi', 'dp.', 'NRAK-', 'sbp_', 'sb_secret_', 'gl', 'sntr', 'pat',
            '-us', 'Q~', 'AGE-SECRET-KEY-1'];
        patterns CONSTANT text[] := ARRAY[
            '%L%(AKIA[A-Z0-9]{16})%T%', '%L%(ASIA[A-Z0-9]{16})%T%', '%L%(ABIA[A-Z0-9]{16})%T%', '%L%(ACCA[A-Z0-9]{16})%T%',
            '%L%(gh[pousr]_[A-Za-z0-9]{36,})%T%', '%L%(github_pat_[A-Za-z0-9_]{50,})%V%',
            '%L%(gl(?:pat|dt|rt|ptt|cbt|oas|imt|soat|ffct|agent|ft|wt)-[A-Za-z0-9_.-]{20,})', '%L%(GR1348941[A-Za-z0-9_-]{20,})',
            '%L%(sk_(?:live|test)_[A-Za-z0-9]{20,})%T%', '%L%(rk_(?:live|test)_[A-Za-z0-9]{20,})%T%',
            '%L%(whsec_[A-Za-z0-9+/=]{24,})', '%L%(xox[abposre]-[0-9A-Za-z]{8,}-[0-9A-Za-z-]{10,})', '%L%(xapp-[0-9]-[0-9A-Za-z-]{24,})',
            '(hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,})',
            '%L%(AIza[0-9A-Za-z_-]{35})%U%', '%L%(GOCSPX-[0-9A-Za-z_-]{24,})', '%L%(ya29\.[0-9A-Za-z_.-]{20,})',
            '%L%(sk-ant-(?:api|admin|sid|oat|ort)[0-9]{2}-[A-Za-z0-9_-]{32,})',
            '%L%(sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|sk-[A-Za-z0-9]{48})%T%',
            '%L%(SK[0-9a-f]{32})%T%', '%L%(SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,50})%U%', '%L%(key-[0-9a-z]{32})%T%',
            '%L%(npm_[A-Za-z0-9]{36})%T%', '%L%(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})',
            '%L%(shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32})%T%',
            '%L%(pat-(?:na|eu|ap)[0-9]-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})',
            '%L%(AT[AC]TT3[A-Za-z0-9_=+/-]{60,})', '%L%(do[por]_v1_[a-f0-9]{64})%T%', '%L%(HRKU-[A-Za-z0-9_-]{50,})',
            '%L%(EAAA[A-Za-z0-9_-]{60,})', '%L%(sq0(?:csp|atp)-[A-Za-z0-9_-]{22,})',
            '%L%([MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,})%U%',
            '%D%([0-9]{8,10}:AA[A-Za-z0-9_-]{33})%U%',
            '%L%(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})',
            '%L%(hf_[A-Za-z0-9]{34,})%T%', '%L%(lin_api_[A-Za-z0-9]{40})%T%', '%L%(PMAK-[a-f0-9]{24}-[a-f0-9]{34})%T%',
            '%L%(ntn_[A-Za-z0-9]{40,})%T%', '%L%(secret_[A-Za-z0-9]{43})%T%',
            '%L%(dapi[a-f0-9]{32}(?:-[0-9])?)%T%', '%L%(dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,})',
            '%L%(NRAK-[A-Z0-9]{27})%T%', '%L%(sbp_[a-f0-9]{40}|sb_secret_[A-Za-z0-9_-]{20,})%T%', '%L%(sb_secret_[A-Za-z0-9_-]{20,})',
            '%L%(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2})', '%L%(sntr[ysu]_[A-Za-z0-9+/=_.-]{40,})',
            '%L%(pat[A-Za-z0-9]{14}\.[a-f0-9]{64})%T%', '%A%([0-9a-f]{32}-us[0-9]{1,2})%T%',
            '%Y%([A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})%Z%',
            '(AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58})'];
        labels CONSTANT text[] := ARRAY[
            'AWS access key id', 'AWS access key id', 'AWS access key id', 'AWS access key id',
            'GitHub token', 'GitHub token', 'GitLab token', 'GitLab token',
            'Stripe secret key', 'Stripe restricted key', 'Stripe webhook secret', 'Slack token', 'Slack token', 'Slack webhook URL',
            'Google API key', 'Google OAuth client secret', 'Google OAuth access token',
            'Anthropic API key', 'OpenAI API key', 'Twilio API key SID', 'SendGrid API key', 'Mailgun API key', 'npm token', 'PyPI token',
            'Shopify access token', 'HubSpot private app token', 'Atlassian API token', 'DigitalOcean token', 'Heroku API key',
            'Square access token', 'Square OAuth secret',
            'Discord bot token', 'Telegram bot token', 'JWT', 'Hugging Face token', 'Linear API key', 'Postman API key',
            'Notion token', 'Notion token',
            'Databricks token', 'Doppler token', 'New Relic API key', 'Supabase secret key', 'Supabase secret key',
            'Grafana token', 'Sentry token', 'Airtable token', 'Mailchimp API key', 'Azure AD client secret', 'age secret key'];
        checks CONSTANT text[] := ARRAY[
            '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '',
            'r', '', 'r', '', '', '', '', '', '', '', 'r', '', 'd', '', '', '', '', '', '', '',
            '', '', '', '', '', '', '', '', 'r', '', ''];

        -- Case-insensitive formats: anchor in lower case, pattern, label.
        ci_anchors CONSTANT text[] := ARRAY['private', 'accountkey', 'sig=', 'heroku', 'aws'];
        ci_patterns CONSTANT text[] := ARRAY[
            $re$(-----\s*begin[ a-z0-9_-]*private\s*key(?:\s*block)?\s*-----[^-]*[a-z0-9+/]{40})$re$,
            $re$(accountkey\s*=\s*[a-z0-9+/]{40,}={0,2})$re$,
            $re$([?&;]sig=[a-z0-9%+/]{30,})$re$,
            $re$(heroku[a-z0-9_.-]*(?:key|token)["'\\]*\s*[:=]\s*["'\\]*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$re$,
            $re$(aws[a-z0-9_.-]*secret[a-z0-9_.-]*["'\\]*\s*[:=]\s*["'\\]*[a-z0-9/+]{40})%W%$re$];
        ci_labels CONSTANT text[] := ARRAY[
            'private key (PEM)', 'Azure storage account key', 'Azure SAS signature', 'Heroku API key', 'AWS secret access key'];

        -- name = value, "name": "value", Name: value for credential-like names
        a_re CONSTANT text := $re$([a-z0-9_.-]*(?:api[_.-]?key|apikey|api[_.-]?secret|api[_.-]?token|access[_.-]?key|secret[_.-]?key|private[_.-]?key|signing[_.-]?key|encryption[_.-]?key|master[_.-]?key|app[_.-]?key|secret|token|password|passwd|pwd|passphrase|credentials?|auth))[^a-z0-9_.-]{0,3}(?:=>|:=|=|:|>)\s*["'\\]*([^\s"'`,;&<>{}()\[\]\\|]+)$re$;
        a_pf CONSTANT text := $re$(?:key|secret|token|pass(?:word|wd|phrase)?|pwd|credentials?|auth)[^a-z0-9_.-]{0,3}[=:>]$re$;
        -- scheme://user:password@host
        u_re CONSTANT text := $re$[a-z][a-z0-9+.-]*://[^\s/?#@:"'<>\\]*:([^\s/?@"'<>\\]+)@[a-z0-9\[]$re$;
        -- Authorization header value, or a Bearer / Basic credential
        h_re CONSTANT text := $re$authorization["'\\]*\s*[:=]\s*["'\\]*(?:(bearer|basic|token|bot|apikey|api-key|key|sso-key)\s+)?([a-z0-9._~+/-]{8,}=*)|(?:^|[^a-z0-9_-])(bearer|basic)\s+([a-z0-9._~+/-]{8,}=*)$re$;

        placeholder_re CONSTANT text := $re$^(?:[*x.#?_-]+|0+|none|null|nil|undefined|true|false|empty|redacted|removed|hidden|masked|changeme|change[_-]?me|placeholder|example|sample|dummy|test|todo|tbd|n/a|secret|password|passwd|pass|pwd|token|(?:your|my|the)[_-].*|.*[_-]here|[$%{<\[].*|.*\*{3,}.*|.*x{6,}.*|.*(?:example|redacted|placeholder|changeme).*|(?:env|file|vault|secret|secrets|ssm|awssm|secretsmanager|gsm|gcp|azure|kv|keyvault|op|doppler|infisical|arn|ref|secretref|sm)[:/].*|projects/.*|[a-z][a-z0-9+.-]*://.*|[0-9]{4}-[0-9]{2}-[0-9]{2}.*|v?[0-9]+(?:\.[0-9]+){1,3}(?:[-+].*)?|[^@\s]+@[^@\s]+\.[a-z]{2,})$$re$;
        uuid_re CONSTANT text := $re$^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$$re$;
        dummy_re CONSTANT text := $re$(.)\1{7,}|EXAMPLE|[Ee]xample|0123456789|abcdefghij|ABCDEFGHIJ$re$;

        texts text[];
        loose_flags boolean[];
        lx text;
        d text;
        i int;
        j int;
        loose boolean;
        candidate boolean;
        re text;
        m text[];
        tok text;
        nm text;
        val text;
        alnum int;
        runs int;
        b bytea;
        cand_vals text[];
        cand_kinds text[];
    BEGIN
        -- Variants: the value, then up to three rounds of JSON unescaping,
        -- then each of those with whitespace runs removed (loose).
        texts := ARRAY[p_value];
        d := p_value;
        FOR i IN 1..3 LOOP
            EXIT WHEN pg_catalog.strpos(d, '\') = 0;
            SELECT pg_catalog.string_agg(
                       CASE WHEN e.c IS NOT NULL
                            THEN CASE WHEN e.c BETWEEN 32 AND 126 THEN pg_catalog.chr(e.c)
                                      WHEN e.c IN (9, 10, 13) THEN ' '
                                      ELSE '?' END
                            WHEN e.m[1] ~ '^\\[nrtbf]$' THEN ' '
                            WHEN pg_catalog.left(e.m[1], 1) = '\' THEN pg_catalog.substr(e.m[1], 2)
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
        loose_flags := pg_catalog.array_fill(false, ARRAY[pg_catalog.array_length(texts, 1)]);
        FOR i IN 1..pg_catalog.array_length(texts, 1) LOOP
            IF texts[i] ~ '\s' THEN
                texts := texts || pg_catalog.regexp_replace(texts[i], '\s+', '', 'g');
                loose_flags := loose_flags || true;
            END IF;
        END LOOP;

        FOR i IN 1..pg_catalog.array_length(texts, 1) LOOP
            x := texts[i];
            loose := loose_flags[i];
            lx := pg_catalog.lower(x);
            candidate := @schema@.plaintext_credential_candidate(x);

            -- 1. provider formats (each needs a 20-character run or a prefilter anchor)
            FOR j IN SELECT a.i FROM pg_catalog.unnest(anchors) WITH ORDINALITY AS a(s, i)
                      WHERE pg_catalog.strpos(x, a.s) > 0 AND candidate ORDER BY a.i LOOP
                re := patterns[j];
                IF loose THEN
                    re := pg_catalog.regexp_replace(re, '%[A-Z]%', '', 'g');
                ELSE
                    re := pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
                          pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(re,
                          '%L%', '(?<![A-Za-z0-9+/_-])'), '%T%', '(?![A-Za-z0-9])'),
                          '%U%', '(?![A-Za-z0-9_-])'), '%V%', '(?![A-Za-z0-9_])'),
                          '%D%', '(?<![0-9])'), '%A%', '(?<![A-Za-z0-9])'),
                          '%Y%', '(?<![A-Za-z0-9_~.-])'), '%Z%', '(?![A-Za-z0-9_~.-])');
                END IF;
                FOR m IN SELECT pg_catalog.regexp_matches(x, re, 'g') LOOP
                    tok := m[1];
                    CONTINUE WHEN tok IS NULL OR tok ~ dummy_re;
                    IF loose OR checks[j] = 'r' THEN
                        alnum := pg_catalog.length(pg_catalog.regexp_replace(tok, '[^A-Za-z0-9]', '', 'g'));
                        runs := pg_catalog.length(pg_catalog.regexp_replace(
                                    pg_catalog.regexp_replace(tok, '[^A-Za-z0-9]', '', 'g'),
                                    '[a-z]+|[A-Z]+|[0-9]+', 'x', 'g'));
                        CONTINUE WHEN runs < GREATEST(3, alnum / 6);
                        CONTINUE WHEN loose AND (tok !~ '[0-9]' OR tok !~ '[A-Za-z]');
                    END IF;
                    IF checks[j] = 'd' THEN
                        -- the first segment is the base64 of a numeric user id
                        nm := pg_catalog.translate(pg_catalog.split_part(tok, '.', 1), '-_', '+/');
                        CONTINUE WHEN pg_catalog.length(nm) % 4 = 1;
                        nm := nm || pg_catalog.repeat('=', (4 - pg_catalog.length(nm) % 4) % 4);
                        CONTINUE WHEN pg_catalog.encode(pg_catalog.decode(nm, 'base64'), 'escape') !~ '^[0-9]{15,21}$';
                    END IF;
                    RETURN labels[j];
                END LOOP;
            END LOOP;

            -- 2. case-insensitive formats
            FOR j IN 1..pg_catalog.array_length(ci_anchors, 1) LOOP
                CONTINUE WHEN pg_catalog.strpos(lx, ci_anchors[j]) = 0;
                re := pg_catalog.replace(ci_patterns[j], '%W%', CASE WHEN loose THEN '' ELSE '(?![a-z0-9/+])' END);
                FOR m IN SELECT pg_catalog.regexp_matches(x, re, 'gi') LOOP
                    tok := m[1];
                    IF loose THEN
                        alnum := pg_catalog.length(pg_catalog.regexp_replace(tok, '[^A-Za-z0-9]', '', 'g'));
                        runs := pg_catalog.length(pg_catalog.regexp_replace(
                                    pg_catalog.regexp_replace(tok, '[^A-Za-z0-9]', '', 'g'),
                                    '[a-z]+|[A-Z]+|[0-9]+', 'x', 'g'));
                        CONTINUE WHEN runs < GREATEST(3, alnum / 6) OR tok !~ '[0-9]';
                    END IF;
                    RETURN ci_labels[j];
                END LOOP;
            END LOOP;

            -- 3. URL with an inline password
            IF pg_catalog.strpos(x, '://') > 0 AND pg_catalog.strpos(x, '@') > 0 THEN
                FOR m IN SELECT pg_catalog.regexp_matches(x, u_re, 'gi') LOOP
                    val := m[1];
                    CONTINUE WHEN pg_catalog.length(val) < 4 OR val ~* placeholder_re;
                    CONTINUE WHEN loose AND (val !~ '[0-9]' OR val !~ '[A-Za-z]');
                    RETURN 'URL with embedded password';
                END LOOP;
            END IF;

            -- 4. Authorization header, Bearer / Basic credentials
            cand_vals := ARRAY[]::text[];
            cand_kinds := ARRAY[]::text[];
            IF pg_catalog.strpos(lx, 'authorization') > 0 OR pg_catalog.strpos(lx, 'bearer') > 0
               OR pg_catalog.strpos(lx, 'basic') > 0 THEN
                FOR m IN SELECT pg_catalog.regexp_matches(x, h_re, 'gi') LOOP
                    nm := pg_catalog.lower(COALESCE(m[1], m[3], ''));
                    val := COALESCE(m[2], m[4]);
                    CONTINUE WHEN val IS NULL OR val ~* placeholder_re OR val ~* uuid_re;
                    IF nm = 'basic' THEN
                        CONTINUE WHEN val !~ '^[A-Za-z0-9+/]+={0,2}$' OR pg_catalog.length(val) % 4 <> 0;
                        b := pg_catalog.decode(val, 'base64');
                        CONTINUE WHEN pg_catalog.encode(b, 'escape') !~ '^[!-~]+:[ -~]{3,}$'
                                   OR pg_catalog.strpos(pg_catalog.encode(b, 'escape'), '\') > 0;
                        RETURN 'HTTP Basic credentials';
                    END IF;
                    cand_vals := cand_vals || val;
                    cand_kinds := cand_kinds || 'bearer token (Authorization header)'::text;
                END LOOP;
            END IF;

            -- 5. credential-named assignment
            IF x ~* a_pf THEN
                FOR m IN SELECT pg_catalog.regexp_matches(x, a_re, 'gi') LOOP
                    nm := pg_catalog.lower(m[1]);
                    val := pg_catalog.rtrim(m[2], '.:');
                    CONTINUE WHEN nm ~ '(?:page|sync|next|prev|continuation|cursor|delta|resume|change|state|csrf|xsrf|verify|verification|token[_.-]?type|idempotency|device|push|registration|fcm|apns)[_.-]?(?:token|key)$';
                    CONTINUE WHEN val ~* placeholder_re OR val ~* uuid_re OR val !~ '[A-Za-z]';
                    IF nm ~ '(?:pass(?:word|wd|phrase)?|pwd)$' THEN
                        -- passwords are often made by people: length, a letter and a digit suffice
                        runs := pg_catalog.length(pg_catalog.regexp_replace(
                                    pg_catalog.regexp_replace(val, '[^A-Za-z0-9]', '', 'g'),
                                    '[a-z]+|[A-Z]+|[0-9]+', 'x', 'g'));
                        CONTINUE WHEN pg_catalog.length(val) < 8 OR val !~ '[0-9]' OR (loose AND runs < 4)
                                   OR val ~ '^(?:/|~/|\.\.?/)';  -- pwd may be a working directory
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

            -- Values from 4 and 5 must look random: long, letters and digits
            -- (or both cases), frequent class changes, and not made of words (camelCase words,
            -- or word-like segments between separators, covering half of it).
            FOR j IN 1..COALESCE(pg_catalog.array_length(cand_vals, 1), 0) LOOP
                val := cand_vals[j];
                CONTINUE WHEN pg_catalog.length(val) < 16 OR val !~ '[A-Za-z]';
                nm := pg_catalog.regexp_replace(val, '[^A-Za-z0-9]', '', 'g');
                alnum := pg_catalog.length(nm);
                runs := pg_catalog.length(pg_catalog.regexp_replace(nm, '[a-z]+|[A-Z]+|[0-9]+', 'x', 'g'));
                CONTINUE WHEN runs < GREATEST(4, alnum / 6);
                IF val !~ '[0-9]' THEN
                    -- without digits: long, both cases, changing case often
                    CONTINUE WHEN pg_catalog.length(val) < 24 OR val !~ '[a-z]' OR val !~ '[A-Z]' OR runs * 3 < alnum;
                END IF;
                IF val ~ '[a-z]' AND val ~ '[A-Z]'
                   AND (alnum - pg_catalog.length(pg_catalog.regexp_replace(val, '[A-Z]?[a-z]{4,}|[^A-Za-z0-9]', '', 'g'))) * 2 >= alnum THEN
                    -- count only word-like runs: at least a quarter vowels
                    SELECT COALESCE(pg_catalog.sum(pg_catalog.length(w.w[1])), 0) INTO runs
                      FROM pg_catalog.regexp_matches(val, '([A-Z]?[a-z]{4,})', 'g') AS w(w)
                     WHERE pg_catalog.length(pg_catalog.regexp_replace(w.w[1], '[^aeiouyAEIOUY]', '', 'g')) * 4
                           >= pg_catalog.length(w.w[1]);
                    CONTINUE WHEN runs * 2 >= alnum;
                END IF;
                nm := ' ' || pg_catalog.regexp_replace(val, '[^A-Za-z0-9]+', ' ', 'g') || ' ';
                CONTINUE WHEN (pg_catalog.length(nm) - pg_catalog.length(pg_catalog.regexp_replace(nm, ' (?:[A-Z]?[a-z]+|[A-Z]+)(?= )', ' ', 'g'))) * 2 >= alnum;
                RETURN cand_kinds[j];
            END LOOP;
        END LOOP;
    END;

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
    -- Column names that give their value assignment context.
    name_re CONSTANT text := $re$(?:api[_.-]?key|apikey|api[_.-]?secret|api[_.-]?token|access[_.-]?key|secret[_.-]?key|private[_.-]?key|signing[_.-]?key|encryption[_.-]?key|master[_.-]?key|app[_.-]?key|secret|token|password|passwd|pwd|passphrase|credentials?)$$re$;
    new_row json;
    old_row json;
    row_text text;
    col text;
    val text;
    kind text;
    user_typed bool;
    names text;
    cols text;
    q text;
BEGIN
    -- to_json() applies a cast to json that the owner of a column's type may
    -- have created, and this function runs with its owner's rights. Only
    -- rows whose columns all have built-in types (which only a superuser can
    -- give casts; domains count as their base type) go through it. Other
    -- rows are read through a query that converts just the columns of
    -- built-in types, to text.
    SELECT pg_catalog.bool_or(b.base OPERATOR(pg_catalog.>=) 16384),
           pg_catalog.string_agg(pg_catalog.quote_literal(a.attname), ', ' ORDER BY a.attnum)
             FILTER (WHERE b.base OPERATOR(pg_catalog.<) 16384),
           pg_catalog.string_agg(pg_catalog.format('r.%I::text', a.attname), ', ' ORDER BY a.attnum)
             FILTER (WHERE b.base OPERATOR(pg_catalog.<) 16384)
      INTO user_typed, names, cols
      FROM pg_catalog.pg_attribute AS a
      JOIN pg_catalog.pg_type AS t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
     CROSS JOIN LATERAL (SELECT (CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'd' THEN t.typbasetype ELSE t.oid END)::int8 AS base) AS b
     WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
    IF NOT coalesce(user_typed, false) THEN
        new_row := pg_catalog.to_json(NEW);
    ELSIF cols IS NULL THEN
        RETURN NEW; -- no column of a built-in type
    ELSE
        q := 'SELECT pg_catalog.json_object(ARRAY[' || names || ']::text[], ARRAY[' || cols || ']::text[]) FROM (SELECT ($1).*) AS r';
        EXECUTE q INTO new_row USING NEW;
        IF TG_OP = 'UPDATE' THEN
            EXECUTE q INTO old_row USING OLD;
        END IF;
    END IF;
    row_text := new_row::text;
    -- The prefilter on the whole row (as JSON, so column names give
    -- context) before any per-column work.
    IF NOT @schema@.plaintext_credential_candidate(row_text) THEN
        RETURN NEW;
    END IF;

    IF TG_OP = 'UPDATE' AND old_row IS NULL THEN
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
        ELSIF pg_catalog.length(val) < 8 OR val ~ '^[0-9a-fA-F-]+$' THEN
            -- numbers, ids and hashes without a credential-like name match no detector
            CONTINUE;
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

-- A guard that another schema's migration attached is left in place.
DO $do$
BEGIN
    IF pg_catalog.to_regclass('public.organization_integrations') IS NOT NULL
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger
                        WHERE tgrelid = pg_catalog.to_regclass('public.organization_integrations')
                          AND tgname = 'credvault_reject_plaintext') THEN
        PERFORM @schema@.guard_plaintext_credentials(pg_catalog.to_regclass('public.organization_integrations'));
    END IF;
END;
$do$;
