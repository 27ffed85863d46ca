package vault_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The plaintext guard corpus. Positives are generated at run time from a
// provider's published prefix plus random characters from crypto/rand, so no
// real or real-looking credential is ever written in this repository. Known
// prefixes are split ("sk_" + "live_") to keep secret scanners quiet.

// guardCase is one value inserted into one column of the probe table.
type guardCase struct {
	Name   string // index and label, never the value
	Column string // column of the probe table: t (text), v (varchar), j (jsonb), js (json), u (uuid)
	Value  string
	Secret string // the random part of a positive, for leak checks; "" for negatives
}

const (
	guardUpper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	guardLower  = "abcdefghijklmnopqrstuvwxyz"
	guardDigits = "0123456789"
	guardAlnum  = guardUpper + guardLower + guardDigits
	guardHex    = "0123456789abcdef"
	guardURL    = guardAlnum + "-_"
	guardB64    = guardAlnum + "+/"
)

// guardRand draws random strings from crypto/rand.
type guardRand struct{ t testing.TB }

func (r guardRand) bytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		r.t.Fatal(err)
	}
	return b
}

// s returns n characters drawn uniformly from alphabet.
func (r guardRand) s(alphabet string, n int) string {
	var sb strings.Builder
	limit := 256 - 256%len(alphabet)
	for sb.Len() < n {
		for _, c := range r.bytes(n) {
			if int(c) < limit && sb.Len() < n {
				sb.WriteByte(alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return sb.String()
}

func (r guardRand) uuid() string {
	b := r.bytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// password returns a human-style password: letters, digits and a symbol.
func (r guardRand) password() string {
	return r.s(guardUpper, 1) + r.s(guardLower, 5) + r.s(guardDigits, 3) + r.s(guardAlnum, 5) + r.s("!#%^*", 1)
}

// pem returns a PEM block of the given type with a random body.
func (r guardRand) pem(kind string) (string, string) {
	body := base64.StdEncoding.EncodeToString(r.bytes(600))
	var sb strings.Builder
	sb.WriteString("-----BEGIN " + kind + "PRIV" + "ATE KEY-----\n")
	if strings.HasPrefix(kind, "PGP") {
		sb.WriteString("Version: GnuPG v2\n\n")
	}
	for i := 0; i < len(body); i += 64 {
		sb.WriteString(body[i:min(i+64, len(body))] + "\n")
	}
	sb.WriteString("-----END " + kind + "PRIV" + "ATE KEY-----\n")
	return sb.String(), body
}

func guardJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// guardToken is a generator of one credential format: the full token and
// the random part of it.
type guardToken struct {
	label string
	make  func(r guardRand) (token, secret string)
}

func guardTokens() []guardToken {
	simple := func(prefix, alphabet string, n int) func(guardRand) (string, string) {
		return func(r guardRand) (string, string) {
			s := r.s(alphabet, n)
			return prefix + s, s
		}
	}
	return []guardToken{
		{"AWS access key id", simple("AK"+"IA", guardUpper+"234567", 16)},
		{"AWS STS key id", simple("AS"+"IA", guardUpper+"234567", 16)},
		{"GitHub classic PAT", simple("gh"+"p_", guardAlnum, 36)},
		{"GitHub OAuth token", simple("gh"+"o_", guardAlnum, 36)},
		{"GitHub user-to-server token", simple("gh"+"u_", guardAlnum, 36)},
		{"GitHub server-to-server token", simple("gh"+"s_", guardAlnum, 36)},
		{"GitHub refresh token", simple("gh"+"r_", guardAlnum, 76)},
		{"GitHub fine-grained PAT", func(r guardRand) (string, string) {
			s := r.s(guardAlnum, 22) + "_" + r.s(guardAlnum, 59)
			return "github" + "_pat_" + s, s
		}},
		{"GitLab PAT", simple("gl"+"pat-", guardURL, 20)},
		{"GitLab deploy token", simple("gl"+"dt-", guardURL, 20)},
		{"GitLab runner token", simple("gl"+"rt-", guardURL, 20)},
		{"Stripe live secret key", simple("sk_"+"live_", guardAlnum, 24)},
		{"Stripe test secret key", simple("sk_"+"test_", guardAlnum, 99)},
		{"Stripe live restricted key", simple("rk_"+"live_", guardAlnum, 99)},
		{"Stripe test restricted key", simple("rk_"+"test_", guardAlnum, 24)},
		{"Stripe webhook secret", simple("wh"+"sec_", guardAlnum, 32)},
		{"Slack bot token", func(r guardRand) (string, string) {
			s := r.s(guardAlnum, 24)
			return "xox" + "b-" + r.s(guardDigits, 12) + "-" + r.s(guardDigits, 13) + "-" + s, s
		}},
		{"Slack user token", func(r guardRand) (string, string) {
			s := r.s(guardHex, 32)
			return "xox" + "p-" + r.s(guardDigits, 12) + "-" + r.s(guardDigits, 12) + "-" + r.s(guardDigits, 13) + "-" + s, s
		}},
		{"Slack app token", func(r guardRand) (string, string) {
			s := r.s(guardHex, 64)
			return "xa" + "pp-1-A" + r.s(guardUpper+guardDigits, 10) + "-" + r.s(guardDigits, 13) + "-" + s, s
		}},
		{"Slack webhook", func(r guardRand) (string, string) {
			s := r.s(guardAlnum, 24)
			return "https://hooks." + "slack.com/services/T" + r.s(guardUpper+guardDigits, 8) + "/B" + r.s(guardUpper+guardDigits, 10) + "/" + s, s
		}},
		{"Google API key", simple("AI"+"za", guardURL, 35)},
		{"Google OAuth client secret", simple("GOCSPX"+"-", guardURL, 28)},
		{"Google OAuth access token", simple("ya"+"29.", guardURL, 120)},
		{"OpenAI project key", func(r guardRand) (string, string) {
			s := r.s(guardURL, 74)
			return "sk-" + "proj-" + s + "T3Blbk" + "FJ" + r.s(guardURL, 74), s
		}},
		{"OpenAI service account key", func(r guardRand) (string, string) {
			s := r.s(guardURL, 58)
			return "sk-" + "svcacct-" + s + "T3Blbk" + "FJ" + r.s(guardURL, 58), s
		}},
		{"OpenAI legacy key", func(r guardRand) (string, string) {
			s := r.s(guardAlnum, 20)
			return "sk-" + s + "T3Blbk" + "FJ" + r.s(guardAlnum, 20), s
		}},
		{"Anthropic API key", func(r guardRand) (string, string) {
			s := r.s(guardURL, 93)
			return "sk-" + "ant-" + "api03-" + s + "AA", s
		}},
		{"Anthropic admin key", func(r guardRand) (string, string) {
			s := r.s(guardURL, 93)
			return "sk-" + "ant-" + "admin01-" + s + "AA", s
		}},
		{"Twilio API key SID", simple("S"+"K", guardHex, 32)},
		{"SendGrid API key", func(r guardRand) (string, string) {
			s := r.s(guardURL, 43)
			return "S" + "G." + r.s(guardURL, 22) + "." + s, s
		}},
		{"Mailgun API key", simple("ke"+"y-", guardLower+guardDigits, 32)},
		{"npm token", simple("np"+"m_", guardAlnum, 36)},
		{"PyPI token", simple("py"+"pi-"+"AgEIcHlw"+"aS5vcmc", guardURL, 120)},
		{"Shopify access token", simple("shp"+"at_", guardHex, 32)},
		{"Shopify shared secret", simple("shp"+"ss_", guardHex, 32)},
		{"Shopify custom app token", simple("shp"+"ca_", guardHex, 32)},
		{"HubSpot private app token", func(r guardRand) (string, string) {
			s := r.uuid()
			return "pat-" + "na1-" + s, s
		}},
		{"Atlassian API token", func(r guardRand) (string, string) {
			s := r.s(guardURL, 180)
			return "ATATT" + "3xFfGF0" + s + "=" + r.s(guardUpper+guardDigits, 8), s
		}},
		{"DigitalOcean PAT", simple("do"+"p_v1_", guardHex, 64)},
		{"Heroku API key", simple("HR"+"KU-AA", guardURL, 58)},
		{"Square access token", simple("EA"+"AA", guardURL, 60)},
		{"Square OAuth secret", simple("sq0"+"csp-", guardURL, 43)},
		{"Discord bot token", func(r guardRand) (string, string) {
			id := "1" + r.s(guardDigits, 18)
			s := r.s(guardURL, 38)
			return base64.RawStdEncoding.EncodeToString([]byte(id)) + "." + r.s(guardURL, 6) + "." + s, s
		}},
		{"Telegram bot token", func(r guardRand) (string, string) {
			s := r.s(guardURL, 33)
			return r.s("123456789", 1) + r.s(guardDigits, 9) + ":A" + "A" + s, s
		}},
		{"JWT", func(r guardRand) (string, string) {
			enc := base64.RawURLEncoding.EncodeToString
			s := r.s(guardURL, 43)
			claims := fmt.Sprintf(`{"sub":"%s","role":"service_role","iat":%d}`, r.uuid(), 1700000000+int(r.bytes(1)[0]))
			return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "." + s, s
		}},
		{"Hugging Face token", simple("h"+"f_", guardAlnum, 34)},
		{"Databricks token", simple("da"+"pi", guardHex, 32)},
		{"Supabase access token", simple("sb"+"p_", guardHex, 40)},
		{"New Relic user key", simple("NR"+"AK-", guardUpper+guardDigits, 27)},
		{"Linear API key", simple("lin_"+"api_", guardAlnum, 40)},
	}
}

// guardContexts wrap a token the way it reaches an integration table.
func guardContexts(t testing.TB) []func(tok string) (column, value string) {
	return []func(string) (string, string){
		func(tok string) (string, string) { return "t", tok },
		func(tok string) (string, string) { return "v", "use " + tok + " for the nightly sync" },
		func(tok string) (string, string) {
			return "j", guardJSON(t, map[string]any{"provider": "acme", "config": map[string]any{"auth": map[string]any{"value": tok}}})
		},
		func(tok string) (string, string) {
			return "j", guardJSON(t, []any{"eu-west-1", map[string]any{"keys": []any{"primary", tok}}})
		},
		func(tok string) (string, string) {
			return "t", guardJSON(t, map[string]any{"settings": map[string]any{"credential": tok, "mode": "live"}})
		},
		func(tok string) (string, string) {
			// a JSON document in a text column whose string hides the prefix in a \u escape
			doc := guardJSON(t, map[string]any{"connection": tok})
			i := strings.Index(doc, tok)
			return "t", doc[:i] + fmt.Sprintf(`\u%04x`, tok[0]) + doc[i+1:]
		},
		func(tok string) (string, string) {
			return "js", guardJSON(t, map[string]any{"env": []any{map[string]any{"name": "PROVIDER_CREDENTIAL", "value": tok}}})
		},
		func(tok string) (string, string) { return "v", "Authorization: Bearer " + tok },
		func(tok string) (string, string) {
			return "t", "REGION=eu-west-1\nLOG_LEVEL=info\nPROVIDER_CREDENTIAL=" + tok + "\n"
		},
	}
}

// guardPositives returns the positive corpus: every token format in two
// contexts, plus assignments, credential URLs, headers and private keys.
func guardPositives(t testing.TB) []guardCase {
	r := guardRand{t}
	ctxs := guardContexts(t)
	var cases []guardCase
	add := func(label, column, value, secret string) {
		cases = append(cases, guardCase{
			Name:   fmt.Sprintf("%03d_%s", len(cases), strings.ReplaceAll(label, " ", "_")),
			Column: column, Value: value, Secret: secret,
		})
	}
	for i, g := range guardTokens() {
		for _, c := range []int{i % len(ctxs), (i + 4) % len(ctxs)} {
			tok, secret := g.make(r)
			col, val := ctxs[c](tok)
			add(g.label, col, val, secret)
		}
	}

	// credential-named assignments with random values
	assign := []struct{ label, prefix, alphabet string }{
		{"api_key env", "api_key=", guardAlnum},
		{"apikey yaml", "apikey: ", guardHex},
		{"client_secret form", "grant_type=client_credentials&client_id=acme-app&client_secret=", guardURL},
		{"token yaml", "token: ", guardAlnum},
		{"API_KEY shell", "export ACME_API_KEY=", guardAlnum},
		{"Api-Key header", "Api-Key: ", guardAlnum},
		{"X-API-KEY header", "X-API-KEY: ", guardHex},
		{"access_token query", "https://api.example.com/v2/reports?format=csv&access_token=", guardURL},
		{"AWS secret access key", "aws_secret_access_" + "key = ", guardB64},
		{"Twilio auth token", "TWILIO_AUTH_TOKEN=", guardHex},
	}
	for _, a := range assign {
		n := 40
		if a.alphabet == guardHex {
			n = 32
		}
		s := r.s(a.alphabet, n)
		add(a.label, "t", a.prefix+s, s)
	}
	{
		s := r.s(guardAlnum, 32)
		add("yaml secret_key", "t", "stripe:\n  mode: live\n  secret_key: "+s+"\n", s)
		s = r.s(guardURL, 40)
		add("json secret", "j", guardJSON(t, map[string]any{"name": "acme", "secret": s}), s)
		s = r.password()
		add("json password", "js", guardJSON(t, map[string]any{"user": "svc_sync", "password": s}), s)
		s = r.password()
		add("password in text", "v", "host=db.internal user=sync password="+s+" sslmode=require", s)
		s = r.s(guardAlnum, 36)
		add("nested JSON token", "j", guardJSON(t, map[string]any{"raw": guardJSON(t, map[string]any{"auth_token": s})}), s)
		s = r.uuid()
		add("Heroku legacy key", "t", "HEROKU_API_"+"KEY="+s, s)
	}

	// URLs with an inline password
	for _, u := range []struct{ label, format string }{
		{"postgres URL", "postgres://app:%s@db.internal:5432/app?sslmode=require"},
		{"https URL", "https://deploy:%s@git.example.com/org/repo.git"},
		{"redis URL", "redis://:%s@cache.internal:6379/0"},
		{"amqps URL", "amqps://svc-billing:%s@mq.example.com/prod"},
		{"mysql URL in JSON", `{"dsn":"mysql://root:%s@10.0.0.5:3306/shop"}`},
	} {
		s := r.password()
		col := "t"
		if strings.HasPrefix(u.format, "{") {
			col = "j"
		}
		add(u.label, col, fmt.Sprintf(u.format, s), s)
	}

	// Authorization headers
	{
		s := r.s(guardURL, 40)
		add("Bearer header", "v", "Authorization: Bearer "+s, s)
		s = r.s(guardAlnum, 32)
		add("bearer in JSON headers", "j", guardJSON(t, map[string]any{"headers": map[string]any{"Authorization": "Bearer " + s}}), s)
		// the secret part of a Basic header is its base64 text
		s = base64.StdEncoding.EncodeToString([]byte("svc-sync:" + r.password()))
		add("Basic header", "t", "Authorization: Basic "+s, s)
		s = base64.StdEncoding.EncodeToString([]byte("api:" + r.password()))
		add("Basic in curl", "t", "curl -H 'Authorization: Basic "+s+"' https://api.example.com", s)
	}

	// other notations
	{
		s := r.s(guardAlnum, 32)
		add("XML element", "t", "<config><apiKey>"+s+"</apiKey></config>", s)
		s = r.s(guardAlnum, 36)
		add("npmrc", "t", "//registry.npmjs.org/:_authToken=npm"+"_"+s, s)
		s = r.s(guardAlnum, 36)
		add("git credential URL", "t", "https://x-access-token:gh"+"s_"+s+"@github.com/acme/repo.git", s)
		s = r.s(guardUpper+"234567", 16)
		add("Terraform HCL", "t", "provider \"aws\" {\n  region     = \"eu-west-1\"\n  access_key = \"AK"+"IA"+s+"\"\n}\n", s)
		s = r.s(guardURL, 40)
		add("lowercase bearer", "v", "authorization: bearer "+s, s)
		s = r.s(guardURL, 40)
		add("token in URL fragment", "t", "https://app.example.com/callback#access_token="+s+"&token_type=bearer", s)
	}

	// Azure storage connection string
	{
		s := base64.StdEncoding.EncodeToString(r.bytes(64))
		add("Azure storage key", "t", "DefaultEndpointsProtocol=https;AccountName=acmeprod;Account"+"Key="+s+";EndpointSuffix=core.windows.net", s)
	}

	// private keys
	for i, kind := range []string{"RSA ", "EC ", "OPENSSH ", "", "PGP ", "ENCRYPTED "} {
		pem, body := r.pem(kind)
		switch i % 3 {
		case 0:
			add("PEM private key "+kind, "t", pem, body)
		case 1:
			add("PEM private key in JSON "+kind, "j", guardJSON(t, map[string]any{"type": "service_account", "private_key": pem}), body)
		default:
			add("PEM private key in JSON text "+kind, "t", guardJSON(t, map[string]any{"private_key": pem}), body)
		}
	}
	return cases
}

// guardNegatives returns values an integration table legitimately holds.
func guardNegatives(t testing.TB) []guardCase {
	r := guardRand{t}
	var cases []guardCase
	add := func(label, column, value string) {
		cases = append(cases, guardCase{
			Name:   fmt.Sprintf("%03d_%s", len(cases), strings.ReplaceAll(label, " ", "_")),
			Column: column, Value: value,
		})
	}
	// secret id references
	add("uuid", "t", r.uuid())
	add("uuid varchar", "v", r.uuid())
	add("uuid column", "u", r.uuid())
	add("api_key_secret_id", "t", "api_key_secret_id="+r.uuid())
	add("secret ids json", "j", guardJSON(t, map[string]any{
		"api_key_secret_id": r.uuid(), "webhook_secret_id": r.uuid(), "refresh_token_secret_id": r.uuid(), "region": "eu-west-1",
	}))
	add("secret id list", "j", guardJSON(t, []any{r.uuid(), r.uuid(), r.uuid()}))
	add("secret id json column", "js", guardJSON(t, map[string]any{"client_secret_id": r.uuid(), "password_secret_id": r.uuid()}))
	add("vault reference", "t", "vault:"+r.uuid())
	add("idempotency key", "j", guardJSON(t, map[string]any{"idempotency_key": r.uuid()}))

	// URLs, e-mails and addresses
	add("plain URL", "t", "https://api.stripe.com/v1/charges")
	add("URL with query", "t", "https://example.com/oauth/callback?state="+r.s(guardAlnum, 16)+"&scope=read")
	add("git remote", "t", "https://github.com/acme/integrations.git")
	add("ssh remote", "t", "git@github.com:acme/integrations.git")
	add("URL with user only", "t", "postgres://app@db.internal:5432/app?sslmode=require")
	add("URL with env password", "t", "postgres://app:${DB_PASSWORD}@db.internal:5432/app")
	add("URL with masked password", "t", "https://deploy:****@git.example.com/org/repo.git")
	add("redis URL", "t", "redis://cache.internal:6379/0")
	add("non-Slack webhook", "t", "https://hooks.example.com/services/billing/events")
	add("email", "t", "billing+stripe@example.com")
	add("mailto", "v", "mailto:support@example.com?subject=Integration")
	add("phone", "v", "+1-415-555-0100")
	add("ip", "t", "10.0.12.7")

	// schedules, names, mappings, settings
	add("cron", "t", "*/15 * * * *")
	add("cron weekdays", "v", "0 3 * * 1-5")
	add("provider", "t", "stripe")
	add("provider names", "j", `["stripe","quickbooks","salesforce","hubspot","slack"]`)
	add("field mapping", "j", `{"customer_id":"CustomerRef","invoice_number":"DocNumber","amount":"TotalAmt"}`)
	add("field mapping text", "t", `{"customer_id":"CustomerRef","email":"PrimaryEmailAddr"}`)
	add("oauth metadata", "j", `{"token_type":"Bearer","expires_in":3600,"scope":"read write","grant_type":"client_credentials"}`)
	add("timestamps", "js", `{"token_expires_at":"2025-03-01T12:00:00Z","last_sync":"2025-02-28T23:59:59.123Z"}`)
	add("timezone", "t", "Asia/Tokyo")
	add("region banner", "t", "ASIA PACIFIC REGIONAL HEADQUARTERS 2024 REPORT")
	add("settings", "j", `{"enabled":true,"retries":3,"webhook_url":"https://acme.example.com/hooks/stripe","currency":"EUR"}`)

	// words that contain prefixes
	add("sk-learn", "t", "pip install scikit-learn # aka sk-learn")
	add("task list", "t", "task-list: review risk-free trial, desk-booking")
	add("key-value", "t", "key-value store with monkey-patching support")
	add("prefix mention", "t", "AWS access key ids start with AK"+"IA and are 20 characters long")
	add("prefix mention 2", "t", "Stripe live keys start with sk_"+"live_ and GitHub tokens with gh"+"p_")
	add("HubSpot mention", "t", "HubSpot private app tokens look like pat-"+"na1-...")
	add("dotted identifier", "t", "NotificationsServiceConfig.module.handlers_for_customer_events")

	// sentences about keys
	add("rotate sentence", "t", "Rotate the API key monthly.")
	add("vault sentence", "v", "The webhook secret is stored in Vault; we keep only its id.")
	add("token sentence", "t", "Bearer tokens expire after one hour.")
	add("plan", "t", "Basic plan: 10 seats")
	add("password rules", "t", "password: required, at least 12 characters")
	add("password min length", "j", `{"password_min_length":12,"password_rotation_days":90}`)

	// placeholders
	add("redacted", "t", "password=<redacted>")
	add("stars", "t", "password=********")
	add("env var", "t", "password=${DB_PASSWORD}")
	add("template", "t", "password={{ db_password }}")
	add("api key env", "t", "api_key: ${STRIPE_API_KEY}")
	add("client secret placeholder", "t", "client_secret=<your-client-secret>")
	add("token placeholder", "t", "token: REPLACE_ME")
	add("bearer placeholder", "v", "Authorization: Bearer <token>")
	add("bearer env", "v", "Authorization: Bearer ${ACME_TOKEN}")
	add("docs example", "t", "api_key=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
	add("secret ref", "j", `{"secret":"projects/acme-prod/secrets/stripe-api-key/versions/3"}`)
	add("secret arn", "j", `{"secret_arn":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/stripe-AbCdEf"}`)

	// identifiers and hashes that are not secrets
	add("commit", "t", "commit "+r.s(guardHex, 40)+" fixes the sync")
	add("merge", "v", "Merge "+r.s(guardHex, 7)+" into "+r.s(guardHex, 7))
	add("sha256", "t", "sha256:"+r.s(guardHex, 64))
	add("image digest", "t", "ghcr.io/acme/sync@sha256:"+r.s(guardHex, 64))
	add("etag", "j", guardJSON(t, map[string]any{"etag": r.s(guardHex, 32)}))
	add("Twilio account sid", "t", "A"+"C"+r.s(guardHex, 32))
	add("Twilio account sid json", "j", guardJSON(t, map[string]any{"account_sid": "A" + "C" + r.s(guardHex, 32)}))
	add("Stripe customer", "t", "cus_"+r.s(guardAlnum, 14))
	add("Stripe account", "j", guardJSON(t, map[string]any{"account": "acct_" + r.s(guardAlnum, 16), "price": "price_" + r.s(guardAlnum, 24)}))
	add("Slack ids", "j", guardJSON(t, map[string]any{"channel": "C0" + r.s(guardUpper+guardDigits, 9), "user": "U0" + r.s(guardUpper+guardDigits, 9)}))
	add("OAuth client id", "j", guardJSON(t, map[string]any{"client_id": r.s(guardAlnum, 32)}))
	add("page token", "j", guardJSON(t, map[string]any{"next_page_token": r.s(guardURL, 40)}))
	add("sync token", "j", guardJSON(t, map[string]any{"syncToken": base64.StdEncoding.EncodeToString(r.bytes(20))}))
	add("cursor", "j", guardJSON(t, map[string]any{"cursor": base64.StdEncoding.EncodeToString(r.bytes(30))}))
	add("bcrypt hash", "j", guardJSON(t, map[string]any{"password_hash": "$2b$12$" + r.s(guardAlnum+"./", 53)}))
	add("random base64 blob", "t", base64.StdEncoding.EncodeToString(r.bytes(600)))
	add("version", "t", "v2.14.3")
	add("image tag", "t", "ghcr.io/acme/sync:1.2.3")
	add("html", "t", `<a href="https://example.com/docs/api-keys">Manage API keys</a>`)
	add("markdown", "t", "## Setup\n\n1. Create an API key in the dashboard.\n2. Store it with store_credential().\n")
	add("number", "t", "1234567890")
	add("empty json", "j", `{}`)

	// long random-looking identifiers that are not secrets
	add("Stripe price", "j", guardJSON(t, map[string]any{"price": "price_" + r.s(guardAlnum, 24), "product": "prod_" + r.s(guardAlnum, 14)}))
	add("Drive file id", "j", guardJSON(t, map[string]any{"file_id": r.s(guardURL, 44)}))
	add("Google client id", "j", guardJSON(t, map[string]any{"client_id": r.s(guardDigits, 12) + "-" + r.s(guardLower+guardDigits, 32) + ".apps.googleusercontent.com"}))
	add("Stripe publishable key", "j", guardJSON(t, map[string]any{"publishable_key": "pk_" + "live_" + r.s(guardAlnum, 24)}))
	add("webhook signature header", "t", fmt.Sprintf("t=%d,v1=%s", 1700000000+int(r.bytes(1)[0]), r.s(guardHex, 64)))
	add("pagination cursor", "j", guardJSON(t, map[string]any{"cursor": base64.RawURLEncoding.EncodeToString([]byte(`{"id":` + r.s(guardDigits, 6) + `}`))}))
	add("device token", "j", guardJSON(t, map[string]any{"device_token": r.s(guardHex, 64)}))
	add("working directory", "j", guardJSON(t, map[string]any{"pwd": "/srv/app2", "cmd": "./sync --once"}))
	add("SRI hash", "t", "sha384-"+base64.StdEncoding.EncodeToString(r.bytes(48)))
	add("ssh public key", "t", "ssh-ed25519 "+base64.StdEncoding.EncodeToString(r.bytes(51))+" deploy@ci")
	add("certificate", "t", "-----BEGIN CERTIFICATE-----\n"+base64.StdEncoding.EncodeToString(r.bytes(300))+"\n-----END CERTIFICATE-----\n")
	add("Salesforce org", "j", guardJSON(t, map[string]any{"instance_url": "https://acme.my.salesforce.com", "org_id": "00D" + r.s(guardAlnum, 15)}))
	add("Shopify gid", "t", "gid://shopify/Order/"+r.s(guardDigits, 13))
	add("multi-line notes", "t", "Line one about the sync.\nLine two mentions the key rotation policy.\nLine three: owner is ops.")
	return cases
}

func TestGuardCorpusShape(t *testing.T) {
	t.Parallel()
	pos, neg := guardPositives(t), guardNegatives(t)
	require.GreaterOrEqual(t, len(pos), 60)
	require.GreaterOrEqual(t, len(neg), 60)
	providers := map[string]bool{}
	for _, g := range guardTokens() {
		providers[strings.Fields(g.label)[0]] = true
	}
	require.GreaterOrEqual(t, len(providers), 20)
	for _, c := range append(pos, neg...) {
		require.NotContains(t, c.Name, c.Value)
		if c.Secret != "" {
			require.GreaterOrEqual(t, len(c.Secret), 8, c.Name)
			require.NotContains(t, c.Name, c.Secret)
			require.Contains(t, c.Value, c.Secret[:8], "%s: the secret part is not in the value", c.Name)
		}
		if c.Column == "j" || c.Column == "js" {
			require.True(t, json.Valid([]byte(c.Value)), "%s: invalid JSON", c.Name)
		}
	}
}
