package twilio

// Test-only views of unexported parts, for the external tests.
var (
	// ErrorRetryable reports each code of the error table and whether it is retryable.
	ErrorRetryable = func() map[int]bool {
		out := make(map[int]bool, len(errorTable))
		for code, info := range errorTable {
			out[code] = info.retryable
		}
		return out
	}
	// ComputeSignature is the adapter's own signature function.
	ComputeSignature = signature
)
