package api

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/media"
	"github.com/conversa-hq/conversa/internal/provider"
)

const mediaTag = "Media library"

// MediaBody is a file of the media library (its metadata: the content is at content_url).
type MediaBody struct {
	ID                 string    `json:"id" format:"uuid"`
	Name               string    `json:"name"`
	Kind               string    `json:"kind" enum:"image,audio,video,document,sticker"`
	Mime               string    `json:"mime" doc:"Sniffed from the content."`
	Size               int64     `json:"size"`
	SHA256             string    `json:"sha256" doc:"Hex SHA-256 of the content; the content's ETag."`
	UploadedByUserID   *string   `json:"uploaded_by_user_id,omitempty" format:"uuid"`
	UploadedByAPIKeyID *string   `json:"uploaded_by_api_key_id,omitempty" format:"uuid"`
	ContentURL         string    `json:"content_url" doc:"GET it with the caller's credentials."`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

func toMediaBody(m media.Media) MediaBody {
	str := func(id *uuid.UUID) *string {
		if id == nil {
			return nil
		}
		s := id.String()
		return &s
	}
	return MediaBody{ID: m.ID.String(), Name: m.Name, Kind: string(m.Kind), Mime: m.Mime, Size: m.Size, SHA256: m.SHA256,
		UploadedByUserID: str(m.UploadedByUserID), UploadedByAPIKeyID: str(m.UploadedByAPIKeyID),
		ContentURL: "/v1/media/" + m.ID.String() + "/content", CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

// MediaUpload is an upload's options (query parameters) and its body, read as a stream.
type MediaUpload struct {
	Name string `query:"name" required:"true" maxLength:"255" doc:"The file's name in the library (and, for a document, the name the contact sees)."`
	Kind string `query:"kind" enum:"image,audio,video,document,sticker" doc:"The kind expected; the content decides, and a file of another kind is a 415."`
	body io.Reader
	size int64
}

// Resolve keeps the request body as a stream (huma reads no body for this operation), so at
// most one chunk of the file sits in memory.
func (in *MediaUpload) Resolve(ctx huma.Context) []error {
	in.body = ctx.BodyReader()
	in.size, _ = strconv.ParseInt(ctx.Header("Content-Length"), 10, 64)
	_ = ctx.SetReadDeadline(time.Now().Add(10 * time.Minute))
	return nil
}

// MediaRename changes a file's name.
type MediaRename struct {
	Name string `json:"name" maxLength:"255"`
}

// mediaContent streams a file with its type and ETag; If-None-Match with the ETag is a 304.
func (s *server) mediaContent(ctx context.Context, accountID uuid.UUID, m media.Media, ifNoneMatch string) *huma.StreamResponse {
	etag := `"` + m.SHA256 + `"`
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		hctx.SetHeader("ETag", etag)
		hctx.SetHeader("Cache-Control", "private, max-age=86400")
		if ifNoneMatch != "" && (ifNoneMatch == etag || ifNoneMatch == "*") {
			hctx.SetStatus(http.StatusNotModified)
			return
		}
		hctx.SetHeader("Content-Type", m.Mime)
		hctx.SetHeader("Content-Length", strconv.FormatInt(m.Size, 10))
		hctx.SetHeader("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": m.Name}))
		hctx.SetHeader("X-Content-Type-Options", "nosniff")
		hctx.SetStatus(http.StatusOK)
		if err := s.Media.WriteContent(ctx, accountID, m, hctx.BodyWriter()); err != nil {
			s.Logger.ErrorContext(ctx, "media content stopped", "media", m.ID, "error", err)
		}
	}}
}

// mediaContentResponses documents a file's content answers. A fresh map for each operation:
// huma adds the error responses to the map it is given, so a shared one would mix the two
// operations' errors and race between servers built at once (parallel tests).
func mediaContentResponses() map[string]*huma.Response {
	return map[string]*huma.Response{
		"200": {Description: "The file's content, with its sniffed Content-Type and ETag (its SHA-256).", Content: map[string]*huma.MediaType{"application/octet-stream": {}}},
		"304": {Description: "If-None-Match matched the ETag."},
	}
}

func (s *server) registerMedia(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "upload-media", Method: http.MethodPost, Path: "/v1/media", Tags: []string{mediaTag},
		Summary: "Upload a file to the media library",
		Description: "The body is the file itself, streamed. Its type is sniffed from the content and must be one WhatsApp accepts: " +
			"images JPEG or PNG (5 MB), stickers WebP (500 KB), audio AAC, AMR, MP3, M4A or OGG (16 MB), video MP4 or 3GPP (16 MB), " +
			"documents PDF, plain text or Office (100 MB; Office files are told apart by the name's extension). Another type is a 415, " +
			"a larger file a 413, an empty one a 422; nothing is stored then. Send it with media.media_id in POST /v1/messages.",
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/octet-stream": {Schema: &huma.Schema{Type: "string", Format: "binary"}},
		}},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *MediaUpload) (*struct {
		Location string `header:"Location"`
		Body     MediaBody
	}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		if in.size > media.MaxSize {
			return nil, huma.NewError(http.StatusRequestEntityTooLarge, fmt.Sprintf("files may have at most %d bytes", int64(media.MaxSize)))
		}
		m, err := s.Media.Upload(ctx, p.AccountID, media.Uploader{UserID: p.UserID, APIKeyID: p.APIKeyID}, in.Name, provider.MediaKind(in.Kind), in.body)
		if err != nil {
			return nil, err
		}
		return &struct {
			Location string `header:"Location"`
			Body     MediaBody
		}{Location: "/v1/media/" + m.ID.String(), Body: toMediaBody(m)}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "list-media", Method: http.MethodGet, Path: "/v1/media", Tags: []string{mediaTag},
		Summary: "List the media library, newest first", Description: "Metadata only; kind filters, q finds names containing it.",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		PageParams
		Kind string `query:"kind" enum:"image,audio,video,document,sticker"`
		Q    string `query:"q" maxLength:"255" doc:"Part of the name, any case."`
	}) (*struct{ Body listBody[MediaBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		before, err := in.after()
		if err != nil {
			return nil, err
		}
		items, err := s.Media.List(ctx, p.AccountID, media.Filter{Kind: provider.MediaKind(in.Kind), Q: in.Q, Before: before, Limit: in.Limit + 1})
		if err != nil {
			return nil, err
		}
		return listPage(items, in.Limit, func(m media.Media) uuid.UUID { return m.ID }, toMediaBody), nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "get-media", Method: http.MethodGet, Path: "/v1/media/{id}", Tags: []string{mediaTag},
		Summary: "Get a file's metadata", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{ Body MediaBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		m, err := s.Media.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body MediaBody }{Body: toMediaBody(m)}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "get-media-content", Method: http.MethodGet, Path: "/v1/media/{id}/content", Tags: []string{mediaTag},
		Summary: "Download a file", Description: "Streamed, with its sniffed Content-Type and ETag (the SHA-256).",
		Errors: []int{http.StatusNotFound}, Responses: mediaContentResponses(),
	}, auth.ContactsRead), func(ctx context.Context, in *struct {
		ID          string `path:"id" format:"uuid"`
		IfNoneMatch string `header:"If-None-Match" maxLength:"200"`
	}) (*huma.StreamResponse, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, problem(err)
		}
		m, err := s.Media.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, problem(err)
		}
		return s.mediaContent(ctx, p.AccountID, m, in.IfNoneMatch), nil
	})

	huma.Register(api, secure(huma.Operation{
		OperationID: "rename-media", Method: http.MethodPatch, Path: "/v1/media/{id}", Tags: []string{mediaTag},
		Summary: "Rename a file", Errors: []int{http.StatusNotFound},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		ID   string `path:"id" format:"uuid"`
		Body MediaRename
	}) (*struct{ Body MediaBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		m, err := s.Media.Rename(ctx, p.AccountID, id, in.Body.Name)
		if err != nil {
			return nil, err
		}
		return &struct{ Body MediaBody }{Body: toMediaBody(m)}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-media", Method: http.MethodDelete, Path: "/v1/media/{id}", Tags: []string{mediaTag},
		Summary: "Delete a file", Description: "Its links stop working at once; messages already sent are not affected.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return &struct{}{}, s.Media.Delete(ctx, p.AccountID, id)
	}))

	huma.Register(api, huma.Operation{
		OperationID: "public-media-content", Method: http.MethodGet, Path: media.PublicPath + "{account_id}/{id}", Tags: []string{mediaTag},
		Summary: "Download a file by its signed link (providers)",
		Description: "The link a message carries when it sends a library file: providers (WhatsApp's media by link) download it without a " +
			"token. A wrong, foreign or expired signature is a 401; a deleted file a 404.",
		Errors: []int{http.StatusUnauthorized, http.StatusNotFound}, Responses: mediaContentResponses(),
	}, func(ctx context.Context, in *struct {
		AccountID   string `path:"account_id" format:"uuid"`
		ID          string `path:"id" format:"uuid"`
		Exp         int64  `query:"exp" doc:"Expiry, Unix seconds."`
		Sig         string `query:"sig" maxLength:"100"`
		IfNoneMatch string `header:"If-None-Match" maxLength:"200"`
	}) (*huma.StreamResponse, error) {
		accountID, err := parseUUID("path.account_id", in.AccountID)
		if err != nil {
			return nil, problem(err)
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, problem(err)
		}
		if s.Media.Signer == nil {
			return nil, huma.NewError(http.StatusNotFound, "media not found")
		}
		if err := s.Media.Signer.Verify(accountID, id, in.Exp, in.Sig, s.Clock.Now()); err != nil {
			return nil, problem(err)
		}
		m, err := s.Media.Get(ctx, accountID, id)
		if err != nil {
			return nil, problem(err)
		}
		return s.mediaContent(ctx, accountID, m, in.IfNoneMatch), nil
	})
}
