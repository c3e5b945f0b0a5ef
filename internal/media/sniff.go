package media

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/provider"
)

// Limits are WhatsApp's size caps per kind (reference: images 5 MB, audio 16 MB, documents
// 100 MB; video 16 MB and animated stickers 500 KB from the Cloud API's media page), so a
// file the library accepts is one the provider accepts.
var Limits = map[provider.MediaKind]int64{
	provider.Image:    5 << 20,
	provider.Audio:    16 << 20,
	provider.Video:    16 << 20,
	provider.Document: 100 << 20,
	provider.Sticker:  500 << 10,
}

// MaxSize is the largest file of any kind.
const MaxSize = 100 << 20

// Types are the MIME types WhatsApp accepts, with the kind each is sent as.
var Types = map[string]provider.MediaKind{
	"image/jpeg":                    provider.Image,
	"image/png":                     provider.Image,
	"image/webp":                    provider.Sticker,
	"audio/aac":                     provider.Audio,
	"audio/amr":                     provider.Audio,
	"audio/mpeg":                    provider.Audio,
	"audio/mp4":                     provider.Audio,
	"audio/ogg":                     provider.Audio,
	"video/mp4":                     provider.Video,
	"video/3gpp":                    provider.Video,
	"text/plain":                    provider.Document,
	"application/pdf":               provider.Document,
	"application/msword":            provider.Document,
	"application/vnd.ms-excel":      provider.Document,
	"application/vnd.ms-powerpoint": provider.Document,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   provider.Document,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         provider.Document,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": provider.Document,
}

// officeByExt names the Office type of a container file (OLE for the old formats, ZIP for the
// new): the container alone does not say which application wrote it, the name does.
var officeByExt = map[string]string{
	".doc":  "application/msword",
	".xls":  "application/vnd.ms-excel",
	".ppt":  "application/vnd.ms-powerpoint",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// Sniff judges a file's type from its first bytes (and, for Office containers only, its
// name's extension) and returns the MIME type and the kind it is sent as; a type WhatsApp
// does not accept is a 415 problem.
func Sniff(head []byte, name string) (string, provider.MediaKind, error) {
	mime := sniff(head, strings.ToLower(filepath.Ext(name)))
	if kind, ok := Types[mime]; ok {
		return mime, kind, nil
	}
	return "", "", fault.UnsupportedMedia(fmt.Sprintf("files of type %s cannot be sent on WhatsApp: images JPEG or PNG, stickers WebP, "+
		"audio AAC, AMR, MP3, M4A or OGG, video MP4 or 3GPP, documents PDF, text or Office", mime),
		fault.FieldError{Field: "body", Message: "unsupported type " + mime})
}

func sniff(head []byte, ext string) string {
	switch {
	case bytes.HasPrefix(head, []byte("#!AMR\n")):
		return "audio/amr"
	case len(head) >= 2 && head[0] == 0xFF && head[1]&0xF6 == 0xF0:
		return "audio/aac" // ADTS: sync word, layer 00
	case len(head) >= 2 && head[0] == 0xFF && head[1]&0xE0 == 0xE0 && head[1]&0x06 != 0:
		return "audio/mpeg" // an MPEG audio frame without an ID3 tag
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		brand := string(head[8:12])
		switch {
		case strings.HasPrefix(brand, "3g"):
			return "video/3gpp"
		case brand == "M4A " || brand == "M4B ":
			return "audio/mp4"
		}
		return "video/mp4"
	case bytes.HasPrefix(head, oleMagic), bytes.HasPrefix(head, []byte("PK\x03\x04")):
		if m, ok := officeByExt[ext]; ok && (bytes.HasPrefix(head, oleMagic) == (len(ext) == 4)) {
			return m
		}
		if bytes.HasPrefix(head, oleMagic) {
			return "application/x-ole-storage"
		}
		return "application/zip"
	}
	mime, _, _ := strings.Cut(http.DetectContentType(head), ";")
	if mime == "application/ogg" {
		return "audio/ogg"
	}
	return strings.TrimSpace(mime)
}
