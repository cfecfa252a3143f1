package plaidsim

import (
	"net/http"
	"time"
)

// Fault makes the next Count POST requests to one path fail or stall. The
// Sim applies it after routing and before looking at the request's content,
// so it hits authenticated and unauthenticated callers alike.
type Fault struct {
	// Count is how many requests the fault affects; 0 means 1.
	Count int
	// Status, if not 0, is the HTTP status answered instead of the normal
	// response, with Error as the body.
	Status int
	// Error is the PlaidError body sent with Status. Nil picks Plaid's error
	// for the status: 429 RATE_LIMIT_EXCEEDED/RATE_LIMIT, any other status
	// API_ERROR/INTERNAL_SERVER_ERROR.
	Error *PlaidError
	// Delay holds the answer back this long (or until the caller gives up).
	// With Status 0 the normal response follows the delay.
	Delay time.Duration
}

// InjectFault queues f for path, one the Sim serves (e.g.
// "/webhook_verification_key/get"). Faults for one path apply in the order
// they were injected.
func (s *Sim) InjectFault(path string, f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], &f)
}

// takeFault consumes one use of the oldest fault queued for path.
func (s *Sim) takeFault(path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[path]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	f.Count--
	if f.Count == 0 {
		q = q[1:]
		if len(q) == 0 {
			delete(s.faults, path)
		} else {
			s.faults[path] = q
		}
	}
	return f
}

func (f *Fault) plaidError() *PlaidError {
	if f.Error != nil {
		return f.Error
	}
	if f.Status == http.StatusTooManyRequests {
		return &PlaidError{
			ErrorType:    "RATE_LIMIT_EXCEEDED",
			ErrorCode:    "RATE_LIMIT",
			ErrorMessage: "rate limit exceeded for attempts to access this item. please try again later",
		}
	}
	return &PlaidError{
		ErrorType:    "API_ERROR",
		ErrorCode:    "INTERNAL_SERVER_ERROR",
		ErrorMessage: "an unexpected error occurred",
	}
}
