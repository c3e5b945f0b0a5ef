// Package media is an account's media library: files uploaded once (images, audio, video,
// documents, stickers) and sent by id in messages. A file's type is judged from its content,
// never from what the client says, and must be one WhatsApp accepts, within WhatsApp's size
// limit for its kind, because a file the provider refuses is only found out when a message
// fails. Providers download the content by a signed public link (see Signer), as WhatsApp's
// media-by-link needs, without a token.
package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/provider"
)

// ChunkSize is how much of a file is read, stored and served at a time: an upload or a
// download holds one chunk in memory, whatever the file's size.
const ChunkSize = 1 << 20

// MaxNameLength bounds a file's name in the library.
const MaxNameLength = 255

// Media is a file of the library (its metadata; the content is read with WriteContent).
type Media struct {
	ID   uuid.UUID
	Name string
	Kind provider.MediaKind
	// Mime is the type sniffed from the content.
	Mime string
	Size int64
	// SHA256 is the hex SHA-256 of the content: its ETag.
	SHA256 string
	// Who uploaded it: a user or an API key (nil once deleted).
	UploadedByUserID   *uuid.UUID
	UploadedByAPIKeyID *uuid.UUID
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Uploader is who uploads a file.
type Uploader struct {
	UserID   *uuid.UUID
	APIKeyID *uuid.UUID
}

// Service manages the library, scoped to one account per call.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
	// Signer makes the public links providers download from; nil when no secret key is
	// configured (then media cannot be sent by id).
	Signer *Signer
}

// NewService returns a Service.
func NewService(pool *pgxpool.Pool, clk clock.Clock, signer *Signer) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk, Signer: signer}
}

var errNotFound = fault.NotFound("media")

// checkName trims and checks a file's name.
func checkName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxNameLength || strings.ContainsAny(name, "\x00\r\n") {
		return "", fault.Invalid("invalid media name", fault.FieldError{Field: field,
			Message: fmt.Sprintf("must have 1 to %d characters and no line breaks", MaxNameLength), Value: name})
	}
	return name, nil
}

// checkKind refuses a kind asked for in the query that is not one of the five.
func checkKind(k provider.MediaKind) error {
	if k != "" && Limits[k] == 0 {
		return fault.Invalid("unknown media kind", fault.FieldError{Field: "query.kind", Message: "must be image, audio, video, document or sticker", Value: string(k)})
	}
	return nil
}

// Upload stores the file read from r under name. The type is sniffed from the first chunk (it
// must be one WhatsApp accepts, and of kind want when want is set: 415 otherwise); reading
// stops as soon as the file passes its kind's limit (413), storing nothing; an empty file is
// refused. The body is first spooled to a temporary file a chunk at a time, hashing as it
// goes, so a slow client holds no database connection; the chunks are then written in one
// short transaction.
func (s *Service) Upload(ctx context.Context, accountID uuid.UUID, by Uploader, name string, want provider.MediaKind, r io.Reader) (Media, error) {
	name, err := checkName("query.name", name)
	if err != nil {
		return Media{}, err
	}
	if err := checkKind(want); err != nil {
		return Media{}, err
	}
	buf := make([]byte, ChunkSize)
	n, err := readChunk(r, buf)
	if err != nil {
		return Media{}, err
	}
	if n == 0 {
		return Media{}, fault.Invalid("the file is empty", fault.FieldError{Field: "body", Message: "is empty"})
	}
	mime, kind, err := Sniff(buf[:n], name)
	if err != nil {
		return Media{}, err
	}
	if want != "" && want != kind {
		return Media{}, fault.UnsupportedMedia(fmt.Sprintf("the file is %s (%s), not %s", mime, kind, want),
			fault.FieldError{Field: "query.kind", Message: "does not match the file's content", Value: string(want)})
	}
	spool, err := os.CreateTemp("", "conversa-media-*")
	if err != nil {
		return Media{}, fmt.Errorf("spool upload: %w", err)
	}
	defer func() { _ = spool.Close(); _ = os.Remove(spool.Name()) }()
	h := sha256.New()
	var size int64
	for n > 0 {
		if size += int64(n); size > Limits[kind] {
			return Media{}, fault.TooLarge(fmt.Sprintf("%s files may have at most %d bytes (WhatsApp's limit)", kind, Limits[kind]))
		}
		h.Write(buf[:n])
		if _, err := spool.Write(buf[:n]); err != nil {
			return Media{}, fmt.Errorf("spool upload: %w", err)
		}
		if n, err = readChunk(r, buf); err != nil {
			return Media{}, err
		}
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return Media{}, fmt.Errorf("spool upload: %w", err)
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	p := store.CreateMediaParams{AccountID: accountID, ID: uuid.Must(uuid.NewV7()), Name: name, Kind: string(kind), Mime: mime, Size: size,
		Sha256: hex.EncodeToString(h.Sum(nil)), UploadedByUserID: by.UserID, UploadedByApiKeyID: by.APIKeyID, Now: now}
	var row store.Medium
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if row, err = s.q.CreateMedia(ctx, tx, p); err != nil {
			return fmt.Errorf("store media %s: %w", name, err)
		}
		for seq := int32(0); ; seq++ {
			n, err := readChunk(spool, buf)
			if err != nil || n == 0 {
				return err
			}
			if err := s.q.InsertMediaChunk(ctx, tx, store.InsertMediaChunkParams{AccountID: accountID, MediaID: p.ID, Seq: seq, Data: buf[:n]}); err != nil {
				return fmt.Errorf("store media chunk %d: %w", seq, err)
			}
		}
	})
	if err != nil {
		return Media{}, err
	}
	return fromRow(row), nil
}

// readChunk fills buf from r as far as r goes; 0 at the end.
func readChunk(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read upload: %w", err)
	}
	return n, nil
}

// Get returns a file's metadata.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Media, error) {
	return s.get(ctx, s.pool, accountID, id)
}

func (s *Service) get(ctx context.Context, db store.DBTX, accountID, id uuid.UUID) (Media, error) {
	row, err := s.q.GetMedia(ctx, db, store.GetMediaParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Media{}, errNotFound
	}
	if err != nil {
		return Media{}, fmt.Errorf("read media %s: %w", id, err)
	}
	return fromRow(row), nil
}

// Filter narrows a listing.
type Filter struct {
	Kind provider.MediaKind
	// Q finds names containing it (case-insensitive).
	Q string
	// Before is the cursor: the last id of the previous page.
	Before *uuid.UUID
	Limit  int
}

// List returns files newest first, without reading any content.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, f Filter) ([]Media, error) {
	p := store.ListMediaParams{AccountID: accountID, Before: f.Before, Lim: int32(f.Limit)}
	if f.Kind != "" {
		if err := checkKind(f.Kind); err != nil {
			return nil, err
		}
		k := string(f.Kind)
		p.Kind = &k
	}
	if q := strings.TrimSpace(f.Q); q != "" {
		q = pgdb.EscapeLike(q)
		p.Q = &q
	}
	rows, err := s.q.ListMedia(ctx, s.pool, p)
	if err != nil {
		return nil, fmt.Errorf("list media: %w", err)
	}
	out := make([]Media, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Rename changes a file's name (its content never changes: upload a new file instead).
func (s *Service) Rename(ctx context.Context, accountID, id uuid.UUID, name string) (Media, error) {
	name, err := checkName("body.name", name)
	if err != nil {
		return Media{}, err
	}
	row, err := s.q.RenameMedia(ctx, s.pool, store.RenameMediaParams{AccountID: accountID, ID: id, Name: name, Now: s.clock.Now()})
	if errors.Is(err, pgx.ErrNoRows) {
		return Media{}, errNotFound
	}
	if err != nil {
		return Media{}, fmt.Errorf("rename media %s: %w", id, err)
	}
	return fromRow(row), nil
}

// Delete removes a file and its content; its links stop working at once (messages already
// sent keep what the provider downloaded).
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	n, err := s.q.DeleteMedia(ctx, s.pool, store.DeleteMediaParams{AccountID: accountID, ID: id})
	if err != nil {
		return fmt.Errorf("delete media %s: %w", id, err)
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

// WriteContent copies a file's content to w one chunk at a time. m is the file as Get
// returned it; a file deleted meanwhile ends the copy early with an error.
func (s *Service) WriteContent(ctx context.Context, accountID uuid.UUID, m Media, w io.Writer) error {
	chunks := (m.Size + ChunkSize - 1) / ChunkSize
	for seq := int32(0); int64(seq) < chunks; seq++ {
		data, err := s.q.GetMediaChunk(ctx, s.pool, store.GetMediaChunkParams{AccountID: accountID, MediaID: m.ID, Seq: seq})
		if err != nil {
			return fmt.Errorf("read media %s chunk %d: %w", m.ID, seq, err)
		}
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("write media %s: %w", m.ID, err)
		}
	}
	return nil
}

// LinkTTL is how long a link made for a message stays valid: longer than any wait before a
// free-form message is sent (they are only sent inside the 24-hour service session) plus the
// provider's retries.
const LinkTTL = 7 * 24 * time.Hour

// Link resolves a library file for a message: its kind, a signed public link valid for
// LinkTTL, and (for documents) its name as the file name the contact sees. db is the send's
// transaction or the pool. An unknown or another account's id is a 404 naming field.
func (s *Service) Link(ctx context.Context, db store.DBTX, accountID, id uuid.UUID, field string) (provider.Media, error) {
	if s.Signer == nil {
		return provider.Media{}, fault.Conflict("media from the library cannot be sent: the server has no CONVERSA_SECRET_KEY to sign its links")
	}
	m, err := s.get(ctx, db, accountID, id)
	if fault.Is(err, fault.KindNotFound) {
		return provider.Media{}, &fault.Error{Kind: fault.KindNotFound, Message: "media not found",
			Fields: []fault.FieldError{{Field: field, Message: "not a file of the account's media library", Value: id.String()}}}
	}
	if err != nil {
		return provider.Media{}, err
	}
	out := provider.Media{Kind: m.Kind, URL: s.Signer.URL(accountID, id, s.clock.Now().Add(LinkTTL))}
	if m.Kind == provider.Document {
		out.Filename = m.Name
	}
	return out, nil
}

func fromRow(r store.Medium) Media {
	return Media{ID: r.ID, Name: r.Name, Kind: provider.MediaKind(r.Kind), Mime: r.Mime, Size: r.Size, SHA256: r.Sha256,
		UploadedByUserID: r.UploadedByUserID, UploadedByAPIKeyID: r.UploadedByApiKeyID, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}
