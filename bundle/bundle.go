package bundle

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"

	"github.com/credvault/vault"
)

const (
	// FormatVersion is the version of the format this package writes, and
	// the newest it reads.
	FormatVersion = 1

	// MaxLineSize is the longest line, in bytes with its newline, that a
	// reader accepts: room for a value and a description of
	// [vault.MaxImportValueSize] bytes each, even escaped.
	MaxLineSize = 16 << 20

	formatName = "credvault-bundle"
)

// Errors of reading a bundle. The errors returned wrap one of them, and
// never quote the bundle's content.
var (
	// ErrNoIdentity means none of the identities given (or the passphrase)
	// opens the bundle: it was encrypted to someone else, or the
	// passphrase is wrong.
	ErrNoIdentity = errors.New("bundle: no identity or passphrase given opens the bundle")

	// ErrNotBundle means the file decrypts, but is not a credvault bundle.
	ErrNotBundle = errors.New("bundle: not a credvault bundle")

	// ErrUnsupportedVersion means the bundle is of a newer format version
	// than [FormatVersion]: upgrade the credvault module or command that
	// imports it.
	ErrUnsupportedVersion = errors.New("bundle: the bundle's format version is newer than this build reads")

	// ErrCorrupt means the bundle is not an age file, or is truncated,
	// corrupted or tampered with: age's authentication failed, or the
	// content does not follow the format.
	ErrCorrupt = errors.New("bundle: the bundle is truncated, corrupted or tampered with")
)

// Header is the first line of a bundle.
type Header struct {
	// Version is the format version; [NewWriter] writes [FormatVersion].
	Version int
	// ExportID is random for each export; the target records the import
	// under it ([vault.ImportOptions.ExportID]).
	ExportID uuid.UUID
	// ExportedAt is the time of the export.
	ExportedAt time.Time
	// Namespaces lists the exported namespaces; nil means every namespace.
	Namespaces []string
}

type headerJSON struct {
	Format     string    `json:"format"`
	Version    int       `json:"version"`
	ExportID   uuid.UUID `json:"export_id"`
	ExportedAt time.Time `json:"exported_at"`
	Namespaces []string  `json:"namespaces"`
}

type credentialJSON struct {
	Type        string     `json:"type"`
	ID          uuid.UUID  `json:"id"`
	Namespace   string     `json:"namespace"`
	Name        string     `json:"name"`
	VaultName   *string    `json:"vault_name"`
	Description string     `json:"description"`
	Version     int64      `json:"version"`
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	Value       string     `json:"value"`
}

type endJSON struct {
	Type  string `json:"type"`
	Count int64  `json:"count"`
}

const (
	typeCredential = "credential"
	typeEnd        = "end"
)

// Writer writes a bundle: [NewWriter], one [Writer.Write] per credential,
// then [Writer.Close], without which the bundle is incomplete and every
// reader refuses it.
type Writer struct {
	age    io.WriteCloser
	enc    *json.Encoder
	count  int64
	closed bool
}

// NewWriter writes the age header and the bundle header h to dst,
// encrypted to recipients (at least one; an age.ScryptRecipient, for a
// passphrase, must be the only one). A zero h.Version means
// [FormatVersion]; a zero ExportID gets a random one. Timestamps are
// written in UTC with microseconds.
func NewWriter(dst io.Writer, h Header, recipients ...age.Recipient) (*Writer, error) {
	if len(recipients) == 0 {
		return nil, errors.New("bundle: no recipient")
	}
	if h.Version == 0 {
		h.Version = FormatVersion
	}
	if h.ExportID == uuid.Nil {
		h.ExportID = uuid.New()
	}
	aw, err := age.Encrypt(dst, recipients...)
	if err != nil {
		return nil, fmt.Errorf("bundle: encrypt: %w", err)
	}
	w := &Writer{age: aw, enc: json.NewEncoder(aw)}
	w.enc.SetEscapeHTML(false)
	err = w.enc.Encode(headerJSON{Format: formatName, Version: h.Version, ExportID: h.ExportID,
		ExportedAt: utcMicro(h.ExportedAt), Namespaces: h.Namespaces})
	if err != nil {
		return nil, fmt.Errorf("bundle: write: %w", err)
	}
	return w, nil
}

func utcMicro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Write appends one credential, value included, encrypted.
func (w *Writer) Write(e vault.ExportedCredential) error {
	if w.closed {
		return errors.New("bundle: write after Close")
	}
	line := credentialJSON{Type: typeCredential, ID: e.ID, Namespace: e.Namespace, Name: e.Name,
		Description: e.Description, Version: e.Version, CreatedAt: utcMicro(e.CreatedAt),
		UpdatedAt: utcMicro(e.UpdatedAt), Value: e.Value}
	if e.VaultName != "" {
		line.VaultName = &e.VaultName
	}
	if !e.ExpiresAt.IsZero() {
		t := utcMicro(e.ExpiresAt)
		line.ExpiresAt = &t
	}
	if err := w.enc.Encode(line); err != nil {
		// Never the value: encoding/json's errors name types, not content.
		return fmt.Errorf("bundle: write: %w", err)
	}
	w.count++
	return nil
}

// Count returns the number of credentials written.
func (w *Writer) Count() int64 { return w.count }

// Close writes the end line and the last age chunk. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.enc.Encode(endJSON{Type: typeEnd, Count: w.count}); err != nil {
		return fmt.Errorf("bundle: write: %w", err)
	}
	if err := w.age.Close(); err != nil {
		return fmt.Errorf("bundle: write: %w", err)
	}
	return nil
}

// Reader reads a bundle: [NewReader] opens it and reads the header,
// [Reader.All] the credentials.
type Reader struct {
	sc     *bufio.Scanner
	header Header
	count  int64
	used   bool
}

// NewReader decrypts src with identities (age identities, or an
// age.ScryptIdentity for a passphrase) and reads and checks the header,
// and nothing more.
//
// Errors: [ErrNoIdentity], [ErrCorrupt] (not an age file, or its header is
// damaged), [ErrNotBundle], [ErrUnsupportedVersion].
func NewReader(src io.Reader, identities ...age.Identity) (*Reader, error) {
	if len(identities) == 0 {
		return nil, errors.New("bundle: no identity")
	}
	plain, err := age.Decrypt(src, identities...)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, ErrNoIdentity
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err) // %v: age's errors are not this package's API
	}
	sc := bufio.NewScanner(plain)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineSize)
	r := &Reader{sc: sc}
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, readError(err)
		}
		return nil, ErrNotBundle
	}
	line := sc.Bytes()
	// Format and version first, leniently: a newer version may differ in
	// everything else.
	var probe struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if json.Unmarshal(line, &probe) != nil || probe.Format != formatName {
		return nil, ErrNotBundle
	}
	if probe.Version > FormatVersion {
		return nil, fmt.Errorf("%w (bundle version %d, this build reads up to %d)", ErrUnsupportedVersion, probe.Version, FormatVersion)
	}
	if probe.Version < 1 {
		return nil, fmt.Errorf("%w: invalid format version", ErrCorrupt)
	}
	var h headerJSON
	if err := strict(line, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCorrupt, err)
	}
	if h.ExportID == uuid.Nil {
		return nil, fmt.Errorf("%w: header without export_id", ErrCorrupt)
	}
	r.header = Header{Version: h.Version, ExportID: h.ExportID, ExportedAt: h.ExportedAt, Namespaces: h.Namespaces}
	return r, nil
}

// strict decodes one JSON object, refusing unknown fields and trailing
// data. Its errors name fields and types, never values.
func strict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return fmt.Errorf("not JSON at byte %d", syntax.Offset)
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fmt.Errorf("field %q is not a %s", typeErr.Field, typeErr.Type)
		}
		return errors.New("not a valid line") // unknown field, bad UUID or time: may quote content
	}
	if dec.More() {
		return errors.New("data after the object")
	}
	return nil
}

// readError classifies a failure to read the decrypted stream: age's
// authentication and truncation errors, and overlong lines.
func readError(err error) error {
	if errors.Is(err, bufio.ErrTooLong) {
		return fmt.Errorf("%w: a line is longer than %d bytes", ErrCorrupt, MaxLineSize)
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}

// Header returns the bundle's header.
func (r *Reader) Header() Header { return r.header }

// Count returns the number of credentials read so far.
func (r *Reader) Count() int64 { return r.count }

// All returns an iterator over the bundle's credentials, decrypted one
// line at a time. After the last credential it checks the end line, and
// that the age stream ends there, authenticated: only when the iterator
// ends without yielding an error was the whole bundle read intact. An
// error ([ErrCorrupt]) is yielded once, as the last element. All can be
// ranged over once.
func (r *Reader) All() iter.Seq2[vault.ExportedCredential, error] {
	return func(yield func(vault.ExportedCredential, error) bool) {
		if r.used {
			yield(vault.ExportedCredential{}, errors.New("bundle: the credentials were already read"))
			return
		}
		r.used = true
		fail := func(err error) { yield(vault.ExportedCredential{}, err) }
		for r.sc.Scan() {
			line := r.sc.Bytes()
			var kind struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(line, &kind); err != nil {
				fail(fmt.Errorf("%w: line %d is not JSON", ErrCorrupt, r.count+2))
				return
			}
			switch kind.Type {
			case typeCredential:
				var c credentialJSON
				if err := strict(line, &c); err != nil {
					fail(fmt.Errorf("%w: line %d: %v", ErrCorrupt, r.count+2, err))
					return
				}
				r.count++
				if !yield(c.credential(), nil) {
					return
				}
			case typeEnd:
				var end endJSON
				if err := strict(line, &end); err != nil {
					fail(fmt.Errorf("%w: end line: %v", ErrCorrupt, err))
					return
				}
				if end.Count != r.count {
					fail(fmt.Errorf("%w: the end line counts %d credentials, the bundle holds %d", ErrCorrupt, end.Count, r.count))
					return
				}
				// Nothing may follow, and age must reach its authenticated end.
				if r.sc.Scan() {
					fail(fmt.Errorf("%w: data after the end line", ErrCorrupt))
					return
				}
				if err := r.sc.Err(); err != nil {
					fail(readError(err))
				}
				return
			default:
				fail(fmt.Errorf("%w: line %d has an unknown type", ErrCorrupt, r.count+2))
				return
			}
		}
		if err := r.sc.Err(); err != nil {
			fail(readError(err))
			return
		}
		fail(fmt.Errorf("%w: no end line after %d credentials", ErrCorrupt, r.count))
	}
}

func (c credentialJSON) credential() vault.ExportedCredential {
	e := vault.ExportedCredential{Secret: vault.Secret{Credential: vault.Credential{
		ID: c.ID, Namespace: c.Namespace, Name: c.Name, Description: c.Description, Version: c.Version,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}, Value: c.Value}}
	if c.VaultName != nil {
		e.VaultName = *c.VaultName
	}
	if c.ExpiresAt != nil {
		e.ExpiresAt = *c.ExpiresAt
	}
	return e
}

// Progress reports how far an export or import has gone.
type Progress struct {
	Credentials int64 // credentials written or read
	Bytes       int64 // bytes of the encrypted bundle written or read
}

// ExportOptions adjust [Export].
type ExportOptions struct {
	// Namespaces lists the namespaces to export; nil exports every
	// namespace (see [vault.ExportFilter]).
	Namespaces []string
	// PageSize is the number of credentials decrypted per round trip;
	// default [vault.DefaultExportPageSize].
	PageSize int
	// Progress, if not nil, is called after each credential written.
	Progress func(Progress)
}

// ExportSummary says what [Export] wrote.
type ExportSummary struct {
	Header      Header
	Credentials int64
	Bytes       int64 // of the encrypted bundle
}

// Export writes a bundle of the credentials c reads with
// [vault.Client.Export] to dst, encrypted to recipients, and returns what
// it wrote. c must run as the owner of the credential functions. Nothing
// is written in plaintext; memory holds one page of credentials. On error
// the bundle written so far lacks its end and age's last chunk, so no
// reader accepts it: remove it.
//
// Errors: those of [vault.Client.Export] (an [*vault.Error]), of dst, and
// of age for unusable recipients.
func Export(ctx context.Context, c *vault.Client, dst io.Writer, recipients []age.Recipient, opts ExportOptions) (ExportSummary, error) {
	cw := &countingWriter{w: dst}
	h := Header{Version: FormatVersion, ExportID: uuid.New(), ExportedAt: utcMicro(time.Now()), Namespaces: opts.Namespaces}
	w, err := NewWriter(cw, h, recipients...)
	if err != nil {
		return ExportSummary{}, err
	}
	sum := ExportSummary{Header: h}
	for e, err := range c.Export(ctx, vault.ExportFilter{Namespaces: opts.Namespaces, PageSize: opts.PageSize}) {
		if err != nil {
			return sum, err
		}
		if err := w.Write(e); err != nil {
			return sum, err
		}
		sum.Credentials = w.Count()
		if opts.Progress != nil {
			opts.Progress(Progress{Credentials: sum.Credentials, Bytes: cw.n})
		}
	}
	if err := w.Close(); err != nil {
		return sum, err
	}
	sum.Bytes = cw.n
	return sum, nil
}

// ImportOptions adjust [Import].
type ImportOptions struct {
	// DryRun reports what the import would do and writes nothing (see
	// [vault.ImportOptions.DryRun]).
	DryRun bool
	// Remap lists columns of your tables that keep credential ids, to
	// rewrite from the source's ids to the new ones in the same
	// transaction (see [vault.ImportOptions.Remap]).
	Remap []vault.ColumnRef
	// OnResult, if not nil, receives each credential's result as the
	// import goes (see [vault.ImportOptions.OnResult]).
	OnResult func(vault.ImportResult) error
	// Progress, if not nil, is called after each credential read.
	Progress func(Progress)
}

// ImportSummary says what [Import] did, or in a dry run would do.
type ImportSummary struct {
	Header Header
	vault.ImportSummary
}

// Import decrypts the bundle read from src with identities and re-creates
// its credentials with [vault.Client.Import], in one transaction that
// commits only once the whole bundle was read and authenticated. c must
// run as the owner of the credential functions. The pairs of old and new
// ids are recorded in the database under the bundle's export id: read
// them with c.ImportedIDs(ctx, sum.Header.ExportID).
//
// Errors: [ErrNoIdentity], [ErrNotBundle], [ErrUnsupportedVersion] and
// [ErrCorrupt] from the header, before anything is written; from then on
// an [*vault.Error] wrapping [ErrCorrupt], a kind of package vault such as
// [vault.ErrAlreadyExists], or OnResult's error, with nothing written.
func Import(ctx context.Context, c *vault.Client, src io.Reader, identities []age.Identity, opts ImportOptions) (ImportSummary, error) {
	cr := &countingReader{r: src}
	r, err := NewReader(cr, identities...)
	if err != nil {
		return ImportSummary{}, err
	}
	creds := func(yield func(vault.ExportedCredential, error) bool) {
		for e, err := range r.All() {
			if !yield(e, err) {
				return
			}
			if opts.Progress != nil && err == nil {
				opts.Progress(Progress{Credentials: r.Count(), Bytes: cr.n})
			}
		}
	}
	sum, err := c.Import(ctx, creds, vault.ImportOptions{
		ExportID: r.Header().ExportID,
		DryRun:   opts.DryRun,
		Remap:    opts.Remap,
		OnResult: opts.OnResult,
	})
	return ImportSummary{Header: r.Header(), ImportSummary: sum}, err
}

// byteCount counts the bytes that went through a countingWriter or a
// countingReader.
type byteCount struct{ n int64 }

// add counts n, the result of a Write or Read, and returns it with err.
func (c *byteCount) add(n int, err error) (int, error) {
	c.n += int64(n)
	return n, err
}

type countingWriter struct {
	w io.Writer
	byteCount
}

func (c *countingWriter) Write(p []byte) (int, error) { return c.add(c.w.Write(p)) }

type countingReader struct {
	r io.Reader
	byteCount
}

func (c *countingReader) Read(p []byte) (int, error) { return c.add(c.r.Read(p)) }
