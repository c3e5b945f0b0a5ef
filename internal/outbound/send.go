package outbound

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/db/store"
)

// Payload is the JSON body of a delivery.
type Payload struct {
	ID         uuid.UUID       `json:"id"`
	Seq        int64           `json:"seq"`
	Type       string          `json:"type"`
	AccountID  uuid.UUID       `json:"account_id"`
	SubjectID  *uuid.UUID      `json:"subject_id,omitempty"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// The retry schedule: the first retry FirstRetry after a failure, each next one twice as late
// up to MaxWait apart, and none once GiveUpAfter has passed since the event.
const (
	FirstRetry  = 30 * time.Second
	MaxWait     = 4 * time.Hour
	GiveUpAfter = 24 * time.Hour
	// ClaimBatch is how many sends one sender claims at once.
	ClaimBatch = 200
	// hold is how long a claimed send is reserved for its sender.
	hold = time.Minute
)

// RetryAt is when attempt n (from 1) that failed is tried again, and false when it is not:
// the send was created at created and gives up GiveUpAfter later.
func RetryAt(created, now time.Time, n int) (time.Time, bool) {
	wait := FirstRetry
	for i := 1; i < n && wait < MaxWait; i++ {
		wait *= 2
	}
	wait = min(wait, MaxWait)
	next := now.Add(wait)
	if next.After(created.Add(GiveUpAfter)) {
		return time.Time{}, false
	}
	return next, true
}

type sender struct {
	client      *http.Client
	concurrency int
}

func newSender(cfg Config) *sender {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 16
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !cfg.AllowPrivate {
		dialer.Control = refusePrivate
	}
	transport := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: cfg.Concurrency,
		TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: cfg.Timeout}
	return &sender{
		client: &http.Client{Timeout: cfg.Timeout, Transport: transport,
			// A redirect could lead anywhere; receivers answer where they were registered.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		concurrency: cfg.Concurrency,
	}
}

// refusePrivate refuses connections to loopback, private, link-local and other non-public
// addresses, checked on the address actually dialled (after DNS), so a name cannot point a
// subscription inside the network.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook address %q: %w", address, err)
	}
	a := ap.Addr().Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() || a.IsMulticast() ||
		a.IsInterfaceLocalMulticast() {
		return fmt.Errorf("webhook address %s is not public", a)
	}
	return nil
}

// Deliver claims the sends that are due and posts them, and returns how many it attempted. Several
// senders (processes) may run at once: each claims its own. A sender that dies mid-post leaves
// its claims to expire, and the sends go again: receivers must expect a repeated event id.
func (s *Service) Deliver(ctx context.Context) (int, error) {
	now := s.clock.Now()
	rows, err := s.q.ClaimWebhookSends(ctx, s.pool, store.ClaimWebhookSendsParams{Now: now, HoldUntil: now.Add(hold), MaxRows: ClaimBatch})
	if err != nil {
		return 0, fmt.Errorf("claim webhook sends: %w", err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, s.sender.concurrency)
		mu   sync.Mutex
		errs []error
	)
	for _, r := range rows {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.deliverOne(ctx, r); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return len(rows), errs[0]
	}
	return len(rows), nil
}

func (s *Service) deliverOne(ctx context.Context, r store.ClaimWebhookSendsRow) error {
	secret, err := s.box.Open(r.Secret, r.SubscriptionID[:])
	if err != nil {
		return fmt.Errorf("open the secret of subscription %s: %w", r.SubscriptionID, err)
	}
	body, err := json.Marshal(Payload{ID: r.EventID, Seq: r.EventSeq, Type: r.EventType, AccountID: r.AccountID,
		SubjectID: r.SubjectID, OccurredAt: r.OccurredAt.UTC(), Data: r.Data})
	if err != nil {
		return fmt.Errorf("encode event %d: %w", r.EventSeq, err)
	}
	status, failure := s.post(ctx, r, string(secret), body)
	now := s.clock.Now()
	p := store.FinishWebhookSendParams{AccountID: r.AccountID, ID: r.ID, Now: now, Status: "succeeded", NextAttemptAt: now}
	if status != 0 {
		st := int32(status)
		p.LastStatus = &st
	}
	if failure != "" {
		p.LastError = &failure
		next, retry := RetryAt(r.CreatedAt, now, int(r.Attempts))
		p.Status, p.NextAttemptAt = "pending", next
		if !retry {
			p.Status, p.NextAttemptAt = "failed", now
		}
	}
	if err := s.q.FinishWebhookSend(context.WithoutCancel(ctx), s.pool, p); err != nil {
		return fmt.Errorf("record webhook send %s: %w", r.ID, err)
	}
	return nil
}

// post makes one attempt and returns the HTTP status (0 when there was none) and, when it
// failed, why.
func (s *Service) post(ctx context.Context, r store.ClaimWebhookSendsRow, secret string, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.Url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Conversa-Webhooks/1")
	req.Header.Set("Conversa-Event-Id", r.EventID.String())
	req.Header.Set("Conversa-Event-Type", r.EventType)
	req.Header.Set("Conversa-Delivery-Id", r.ID.String())
	req.Header.Set(SignatureHeader, Sign(secret, s.clock.Now(), body))
	resp, err := s.sender.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Sprintf("the receiver answered %d", resp.StatusCode)
	}
	return resp.StatusCode, ""
}
