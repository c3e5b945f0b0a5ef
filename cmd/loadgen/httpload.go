package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// httpTarget calls the server under test the way an integrator would: API key in the
// Authorization header, JSON bodies, keep-alive connections.
type httpTarget struct {
	client *http.Client
	base   string
	auth   string
	ids    []uuid.UUID
}

// newHTTPTarget makes one client for all workers. Its transport keeps an idle connection per
// worker (and then some), so every worker reuses its keep-alive connection instead of
// dialling; no proxy, no compression, nothing between the client and the server but loopback.
func newHTTPTarget(base, apiKey string, clients int, ids []uuid.UUID) *httpTarget {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        2 * clients,
		MaxIdleConnsPerHost: 2 * clients,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &httpTarget{
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		base:   base, auth: "Bearer " + apiKey, ids: ids,
	}
}

// do sends one request and reads the whole answer (so the connection is reused); any status
// outside 2xx is an error carrying the start of the body.
func (h *httpTarget) do(ctx context.Context, method, path string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", h.auth)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return h.send(req)
}

// send sends a prepared request and reads the whole answer; any status outside 2xx is an
// error carrying the start of the body.
func (h *httpTarget) send(req *http.Request) error {
	method, path := req.Method, req.URL.Path
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return nil
}

// getContact fetches a random seeded contact.
func (h *httpTarget) getContact(ctx context.Context, rng *rand.Rand) error {
	id := h.ids[rng.IntN(len(h.ids))]
	return h.do(ctx, http.MethodGet, "/v1/contacts/"+id.String(), nil)
}

// createContact returns an op that creates a new contact with the next unused phone number,
// written as people write it, and a customer code derived from it.
func (h *httpTarget) createContact(numbers *counter) op {
	return func(ctx context.Context, _ *rand.Rand) error {
		n, err := numbers.Next()
		if err != nil {
			return err
		}
		return h.do(ctx, http.MethodPost, "/v1/contacts", contactJSON(n))
	}
}

// contactJSON is the body creating contact n. Built by hand: the client shares the CPUs with
// the server, so it should spend as little as it can.
func contactJSON(n int64) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"name":`...)
	b = strconv.AppendQuote(b, contactName(int(n)))
	b = append(b, `,"customer_code":"`...)
	b = append(b, postCode(n)...)
	b = append(b, `","phones":["`...)
	b = append(b, writtenMobile(n)...)
	b = append(b, `"]}`...)
	return b
}

// listContacts returns an op that reads one page of 50 contacts after cursor (the first page
// when cursor is empty).
func (h *httpTarget) listContacts(cursor string) op {
	path := "/v1/contacts?limit=50"
	if cursor != "" {
		path += "&cursor=" + cursor
	}
	return func(ctx context.Context, _ *rand.Rand) error {
		return h.do(ctx, http.MethodGet, path, nil)
	}
}

// encodeCursor makes the page cursor that follows contact id: the API's cursor is the
// unpadded base64url of the last id of the previous page. checkTargets verifies the server
// agrees, so a change of format fails the run instead of measuring an error page.
func encodeCursor(id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// listPage is the part of a list answer the checks read.
type listPage struct {
	Items []struct {
		ID string `json:"id"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// fetchJSON GETs path and decodes the JSON answer into v.
func (h *httpTarget) fetchJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+path, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Authorization", h.auth)
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: read body: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return nil
}

// checkTargets makes sure, before measuring, that every scenario does what it claims: a
// seeded contact is found, the first page is the first 50 contacts, the deep cursor lands
// right after contact number deepAfter, through HTTP and on the raw pool alike.
func checkTargets(ctx context.Context, h *httpTarget, raw *rawTarget, ids []uuid.UUID, deepAfter int) error {
	var c struct {
		ID     string `json:"id"`
		Phones []struct {
			Number string `json:"number"`
		} `json:"phones"`
	}
	if err := h.fetchJSON(ctx, "/v1/contacts/"+ids[0].String(), &c); err != nil {
		return fmt.Errorf("check get: %w", err)
	}
	if c.ID != ids[0].String() || len(c.Phones) != 1 || c.Phones[0].Number != canonicalMobile(0) {
		return fmt.Errorf("check get: got contact %s with phones %v, want %s with %s", c.ID, c.Phones, ids[0], canonicalMobile(0))
	}
	for _, tc := range []struct {
		cursor string
		first  int
	}{{"", 0}, {encodeCursor(ids[deepAfter-1]), deepAfter}} {
		path := "/v1/contacts?limit=50"
		if tc.cursor != "" {
			path += "&cursor=" + tc.cursor
		}
		var p listPage
		if err := h.fetchJSON(ctx, path, &p); err != nil {
			return fmt.Errorf("check list: %w", err)
		}
		if len(p.Items) != 50 || p.Items[0].ID != ids[tc.first].String() || p.NextCursor == "" {
			got := "nothing"
			if len(p.Items) > 0 {
				got = p.Items[0].ID
			}
			return fmt.Errorf("check list %s: got %d items starting at %s, want 50 starting at %s and a next cursor",
				path, len(p.Items), got, ids[tc.first])
		}
		var after *uuid.UUID
		if tc.first > 0 {
			after = &ids[tc.first-1]
		}
		rows, err := raw.list(ctx, after)
		if err != nil {
			return fmt.Errorf("check raw list: %w", err)
		}
		if len(rows) != listFetch || rows[0].Contact.ID != ids[tc.first] {
			return fmt.Errorf("check raw list after %v: got %d rows, want %d starting at %s", after, len(rows), listFetch, ids[tc.first])
		}
	}
	return nil
}
