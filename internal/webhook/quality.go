package webhook

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
)

// Notifications that may carry a WhatsApp number's quality rating or the portfolio's
// messaging limit (reference §2.6, §5.2, §5.4).
var channelNotifications = map[string]bool{
	"phone_number_quality_update": true,
	"business_capability_update":  true,
	"account_update":              true,
}

// messagingLimits maps Meta's tier names to the channel's messaging_limit values. Tiers the
// channel cannot hold (TIER_50, TIER_NOT_SET, the retired TIER_1K) change nothing.
var messagingLimits = map[string]string{
	"TIER_250": "250", "TIER_2K": "2000", "TIER_10K": "10000", "TIER_100K": "100000", "TIER_UNLIMITED": "unlimited",
}

// qualityRatings maps the ratings Meta reports to the channel's quality_rating values.
var qualityRatings = map[string]string{
	"GREEN": "green", "HIGH": "green", "YELLOW": "yellow", "MEDIUM": "yellow", "RED": "red", "LOW": "red", "UNKNOWN": "unknown",
}

// notificationChanges reads what a notification says about the number and the portfolio:
// the messaging limit from max_daily_conversations_per_business (or the older current_limit),
// the quality from quality_rating, new_quality_score or current_quality_rating (or an event
// FLAGGED, which meant a low rating). Empty strings mean "not reported".
func notificationChanges(d map[string]string) (quality, limit string) {
	for _, k := range []string{"max_daily_conversations_per_business", "current_limit", "messaging_limit_tier"} {
		if v, ok := messagingLimits[strings.ToUpper(d[k])]; ok {
			limit = v
			break
		}
	}
	for _, k := range []string{"quality_rating", "new_quality_score", "current_quality_rating", "quality_score"} {
		if v, ok := qualityRatings[strings.ToUpper(d[k])]; ok {
			quality = v
			break
		}
	}
	if quality == "" && strings.EqualFold(d["event"], "FLAGGED") {
		quality = "red"
	}
	return quality, limit
}

// applyChannelNotifications writes WhatsApp quality, messaging-limit and throughput-upgrade
// (1 000 messages/s, reference §5.1) notifications to the channels they concern, only in the account of the channel they arrived on: the number a
// phone_number_quality_update names (display_phone_number), else every WhatsApp channel of the
// business account (entry id) plus the receiving channel. A notification older than the one
// applied last (compared by the time the provider gives it) changes nothing.
func (s *Service) applyChannelNotifications(ctx context.Context, tx pgx.Tx, evs []Event) error {
	now := s.clock.Now()
	for _, e := range evs {
		n := e.Notification
		if n == nil || !channelNotifications[n.Kind] {
			continue
		}
		quality, limit := notificationChanges(n.Data)
		upgrade := strings.EqualFold(n.Data["event"], "THROUGHPUT_UPGRADE")
		if quality == "" && limit == "" && !upgrade {
			continue
		}
		phone := ""
		if digits := onlyDigits(n.Data["display_phone_number"]); digits != "" {
			phone = "+" + digits
		}
		ids, err := s.q.WhatsAppChannelsFor(ctx, tx, store.WhatsAppChannelsForParams{
			AccountID: e.AccountID, ChannelID: e.ChannelID, Phone: phone, WabaID: n.Data["waba_id"],
		})
		if err != nil {
			return fmt.Errorf("find channels for %s: %w", n.Kind, err)
		}
		if len(ids) == 0 {
			continue
		}
		at := e.OccurredAt
		if quality != "" {
			if _, err := s.q.ApplyChannelQuality(ctx, tx, store.ApplyChannelQualityParams{
				AccountID: e.AccountID, Ids: ids, QualityRating: &quality, At: &at, Now: now,
			}); err != nil {
				return fmt.Errorf("apply quality rating: %w", err)
			}
		}
		if upgrade {
			if _, err := s.q.ApplyChannelThroughputUpgrade(ctx, tx, store.ApplyChannelThroughputUpgradeParams{AccountID: e.AccountID, Ids: ids, Now: now}); err != nil {
				return fmt.Errorf("apply throughput upgrade: %w", err)
			}
		}
		if limit != "" {
			if _, err := s.q.ApplyChannelMessagingLimit(ctx, tx, store.ApplyChannelMessagingLimitParams{
				AccountID: e.AccountID, Ids: ids, MessagingLimit: &limit, At: &at, Now: now,
			}); err != nil {
				return fmt.Errorf("apply messaging limit: %w", err)
			}
		}
	}
	return nil
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
