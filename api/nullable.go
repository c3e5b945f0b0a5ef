package api

import (
	"bytes"
	"encoding/json"
	"reflect"

	"github.com/danielgtaylor/huma/v2"
)

// Patchable is a PATCH body field that tells "absent" (keep), null (clear) and a value (set)
// apart, as JSON merge patch (RFC 7396) does.
type Patchable[T any] struct {
	Sent  bool
	Null  bool
	Value T
}

// UnmarshalJSON records that the field was sent, and whether as null.
func (p *Patchable[T]) UnmarshalJSON(b []byte) error {
	p.Sent = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		p.Null = true
		return nil
	}
	return json.Unmarshal(b, &p.Value)
}

// Schema documents the field as T or null.
func (p Patchable[T]) Schema(r huma.Registry) *huma.Schema {
	s := r.Schema(reflect.TypeOf(p.Value), true, "")
	out := *s
	out.Nullable = true
	return &out
}

// ptr returns the value as a pointer: nil when sent as null.
func (p Patchable[T]) ptr() *T {
	if p.Null {
		return nil
	}
	v := p.Value
	return &v
}
