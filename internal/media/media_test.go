package media_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/media"
	"github.com/conversa-hq/conversa/internal/provider"
)

func TestSniff(t *testing.T) {
	t.Parallel()
	ole := "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00"
	tests := []struct {
		name, head, file string
		mime             string
		kind             provider.MediaKind
	}{
		{"JPEG", "\xff\xd8\xff\xe0\x00\x10JFIF", "a.jpg", "image/jpeg", provider.Image},
		{"PNG", "\x89PNG\r\n\x1a\n\x00", "a.png", "image/png", provider.Image},
		{"WebP", "RIFF\x00\x00\x00\x00WEBPVP8 ", "a.webp", "image/webp", provider.Sticker},
		{"AMR", "#!AMR\n\x3c", "a.amr", "audio/amr", provider.Audio},
		{"AAC", "\xff\xf1\x50\x80", "a.aac", "audio/aac", provider.Audio},
		{"MP3Frame", "\xff\xfb\x90\x64", "a.mp3", "audio/mpeg", provider.Audio},
		{"MP3ID3", "ID3\x03\x00\x00\x00", "a.mp3", "audio/mpeg", provider.Audio},
		{"M4A", "\x00\x00\x00\x20ftypM4A \x00\x00", "a.m4a", "audio/mp4", provider.Audio},
		{"OGG", "OggS\x00\x02", "a.ogg", "audio/ogg", provider.Audio},
		{"MP4", "\x00\x00\x00\x18ftypisom\x00\x00", "a.mp4", "video/mp4", provider.Video},
		{"3GP", "\x00\x00\x00\x18ftyp3gp5\x00\x00", "a.3gp", "video/3gpp", provider.Video},
		{"PDF", "%PDF-1.7\n", "a.pdf", "application/pdf", provider.Document},
		{"Text", "Bom dia\n", "a.txt", "text/plain", provider.Document},
		{"Doc", ole, "A.DOC", "application/msword", provider.Document},
		{"Xls", ole, "a.xls", "application/vnd.ms-excel", provider.Document},
		{"Xlsx", "PK\x03\x04\x14\x00", "a.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", provider.Document},
		{"Pptx", "PK\x03\x04\x14\x00", "a.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", provider.Document},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mime, kind, err := media.Sniff([]byte(tc.head), tc.file)
			require.NoError(t, err)
			require.Equal(t, tc.mime, mime)
			require.Equal(t, tc.kind, kind)
		})
	}
	for name, c := range map[string]struct{ head, file string }{
		"HTML":          {"<html><body>x</body></html>", "a.pdf"},
		"GIF":           {"GIF89a\x01\x00", "a.gif"},
		"ZipNotOffice":  {"PK\x03\x04\x14\x00", "a.zip"},
		"DocxAsOLE":     {ole, "a.docx"},
		"DocAsZip":      {"PK\x03\x04\x14\x00", "a.doc"},
		"Executable":    {"MZ\x90\x00\x03\x00\x00\x00", "a.pdf"},
		"BinaryGarbage": {"\x00\x01\x02\x03\x04", "a.png"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := media.Sniff([]byte(c.head), c.file)
			require.True(t, fault.Is(err, fault.KindUnsupportedMedia), "%v", err)
		})
	}
}

func TestSignerLinks(t *testing.T) {
	t.Parallel()
	s := media.NewSigner([]byte("k1"), "https://conversa.example.com/")
	acct, id := uuid.New(), uuid.New()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	exp := now.Add(time.Hour)
	link := s.URL(acct, id, exp)
	require.Contains(t, link, "https://conversa.example.com/public/media/"+acct.String()+"/"+id.String()+"?exp=")
	sig := link[len(link)-43:]
	require.NoError(t, s.Verify(acct, id, exp.Unix(), sig, now))
	tests := map[string]error{
		"OtherFile":    s.Verify(acct, uuid.New(), exp.Unix(), sig, now),
		"OtherAccount": s.Verify(uuid.New(), id, exp.Unix(), sig, now),
		"LaterExpiry":  s.Verify(acct, id, exp.Unix()+3600, sig, now),
		"Expired":      s.Verify(acct, id, exp.Unix(), sig, exp.Add(time.Second)),
		"OtherKey":     media.NewSigner([]byte("k2"), "https://x").Verify(acct, id, exp.Unix(), sig, now),
		"Empty":        s.Verify(acct, id, exp.Unix(), "", now),
	}
	for name, err := range tests {
		require.True(t, fault.Is(err, fault.KindUnauthorized), name)
	}
}
