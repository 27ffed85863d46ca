// Package bundle moves credentials between databases (Supabase projects, a
// staging copy, a self-hosted server) in an encrypted file: [Export]
// decrypts the credentials of a database into a bundle encrypted with age
// (https://age-encryption.org), and [Import] re-creates them in another
// database, under that database's own Vault root key.
//
// A dump and restore cannot do this: the postgres role may not write
// vault.secrets, and another project has another root key, under which
// the restored ciphertext would not decrypt anyway.
//
//	// On the source project, as the owner (postgres):
//	recipient, err := age.ParseX25519Recipient("age1...") // the public key of whoever imports
//	// handle err
//	sum, err := bundle.Export(ctx, source, out, []age.Recipient{recipient}, bundle.ExportOptions{})
//
//	// On the target project, as the owner:
//	ids, err := age.ParseIdentities(keyFile)
//	// handle err
//	sum, err := bundle.Import(ctx, target, in, ids, bundle.ImportOptions{
//		Remap: []vault.ColumnRef{{Schema: "public", Table: "organization_integrations", Column: "vault_secret_id"}},
//	})
//
// The credvault command does the same with 'credvault export' and
// 'credvault import'. This package is separate from package vault so that
// a service importing only vault does not depend on age.
//
// # Security
//
// Plaintext exists only in memory: Export encrypts as it reads, Import
// decrypts as it writes, and neither holds more than a page of
// credentials. Every credential exported is recorded in the source's
// access log (op "export") before it leaves the database, every one
// created in the target's (op "import"). Both run as the owner of the
// credential functions (the role that ran Migrate), never as
// service_role. Whoever holds an identity (or the passphrase) of a bundle
// holds every secret in it: keep bundles short-lived, encrypt to the
// public key of the person or machine that imports, and delete the file
// after the import.
//
// age authenticates the whole stream, in chunks of 64 KiB, and detects
// truncation at its end. Import therefore runs in one transaction and
// commits only after the stream ended cleanly: a wrong identity or
// passphrase ([ErrNoIdentity]), a bundle of a newer format
// ([ErrUnsupportedVersion]) or one that is not a bundle ([ErrNotBundle])
// fail before anything is written, and a truncated, corrupted or tampered
// bundle ([ErrCorrupt]) fails with everything rolled back.
//
// # Idempotence
//
// Importing the same bundle again creates nothing: the target records,
// for each credential it created, the credential's id in the source (the
// idempotence key) and the id it got. A credential imported before is
// reported as existing and left as it is; one deleted since is created
// again. A name already taken in the target by another credential fails
// the import ([vault.ErrAlreadyExists]); a dry run ([ImportOptions.DryRun])
// lists such conflicts, and everything else the import would do, and
// writes nothing.
//
// # Format
//
// A bundle is an age file (binary, not armored) whose plaintext is UTF-8
// text: one JSON object per line, each ending in "\n". The first line is
// the header, then one line per credential, then the end line:
//
//	{"format":"credvault-bundle","version":1,"export_id":"9b2c...","exported_at":"2025-06-01T12:00:00.123456Z","namespaces":null}
//	{"type":"credential","id":"0b6f...","namespace":"org-42","name":"acme/quickbooks","vault_name":null,"description":"QuickBooks OAuth client secret","version":3,"expires_at":null,"created_at":"2025-01-02T03:04:05.678901Z","updated_at":"2025-05-30T10:00:00Z","value":"..."}
//	{"type":"end","count":1}
//
// Header: "format" is always "credvault-bundle"; "version" (integer) is
// the format version, [FormatVersion] for bundles this package writes;
// "export_id" (UUID) is random for each export and tags the target's
// record of the import (see [vault.Client.ImportedIDs]); "exported_at" is
// the time of the export; "namespaces" lists
// the exported namespaces, or is null for every namespace.
//
// Credential: "id" (UUID) is its id in the source database; "namespace"
// ("" is the default one), "name" and "description" are strings;
// "vault_name" is the Vault secret's own name (vault.secrets.name) or null;
// "version" (integer, at least 1) counts its values; "expires_at"
// (RFC 3339 or null), "created_at" and "updated_at" (RFC 3339; updated_at
// is the last change of the value) are timestamps; "value" is the
// plaintext, a JSON string (UTF-8, escaped as JSON requires). Timestamps
// are RFC 3339 strings in UTC ("Z") with up to six fractional digits
// (PostgreSQL keeps microseconds). Credentials come in source id order.
//
// End: "count" (integer) is the number of credential lines. A bundle
// without it, with another count, or with anything after it, is
// truncated or corrupt.
//
// Readers check "format" and "version" before anything else and refuse a
// version above theirs ([ErrUnsupportedVersion]). Within a version, unknown
// fields and line types are refused ([ErrCorrupt]), a missing field reads
// as empty or null, and [Import] refuses a credential without an id, name,
// version or timestamps. A line is at most [MaxLineSize] bytes. Any change
// to the format gets a new version; readers keep reading the older ones.
package bundle
