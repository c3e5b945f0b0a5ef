package twilio

import (
	"strconv"

	"github.com/conversa-hq/conversa/internal/provider"
)

// errorInfo is what this package knows about one Twilio error code.
type errorInfo struct {
	// reason says what went wrong and what to do, in this service's words.
	reason string
	// retryable says the same message may go through later.
	retryable bool
}

// errorTable holds the Twilio error codes the send job has to tell apart, for synchronous
// refusals and for the ErrorCode of failed/undelivered status callbacks alike. Codes not in
// the table are judged by HTTP status (429 and 5xx retryable). Twilio keeps refining codes
// (it split 21211/21614 into narrower ones in 2024), so an unknown code is normal.
var errorTable = map[int]errorInfo{
	20003: {"authentication failed: check the Account SID and Auth Token", false},
	20404: {"resource not found: check the Account SID and the API path", false},
	20429: {"too many requests to the Twilio API: slow down and retry", true},
	21211: {"invalid 'To' number: fix the recipient's number (E.164, not a short code, not the sender itself)", false},
	21408: {"sending to this region is not enabled for the account (Messaging Geographic Permissions)", false},
	21602: {"message body is required", false},
	21606: {"the 'From' number cannot send messages to this destination", false},
	21610: {"the recipient replied STOP and has opted out: do not message them until they reply START", false},
	21612: {"Twilio cannot route a message between this 'From' and 'To'", false},
	21614: {"'To' is not a mobile number (a landline?) and cannot receive SMS", false},
	21617: {"the message body exceeds the 1600-character limit", false},
	30001: {"queue overflow: too many messages queued for the sender; retry later", true},
	30002: {"the Twilio account is suspended", false},
	30003: {"unreachable destination handset (off, out of coverage or blocking messages)", false},
	30004: {"message blocked by the recipient, the carrier or Twilio", false},
	30005: {"unknown destination handset: the number does not exist or is out of service", false},
	30006: {"landline or unreachable carrier: the number cannot receive SMS", false},
	30007: {"message filtered by the carrier as spam or a policy violation", false},
	30008: {"unknown delivery error: retry later", true},
	30034: {"message from an unregistered US A2P 10DLC number: register the campaign", false},
}

// lookupError builds the *provider.Error for a Twilio error code (as text) and Twilio's own
// message, which may be empty (status callbacks carry only the code). Retryable comes from
// the table; for codes outside it the caller decides by HTTP status.
func lookupError(code, message string) *provider.Error {
	e := &provider.Error{Code: code}
	n, _ := strconv.Atoi(code)
	info, known := errorTable[n]
	switch {
	case known && message != "":
		e.Reason = info.reason + " (Twilio: " + message + ")"
	case known:
		e.Reason = info.reason
	case message != "":
		e.Reason = message
	default:
		e.Reason = "Twilio error " + code
	}
	e.Retryable = known && info.retryable
	return e
}
