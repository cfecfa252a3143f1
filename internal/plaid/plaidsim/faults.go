package plaidsim

import (
	"fmt"
	"net/http"
	"time"
)

// Fault makes the next Count requests to one path fail, stall, or meet a
// data change mid-pagination.
//
// A fault without ItemID applies after routing and before the Sim looks at
// the request's content, so it hits authenticated and unauthenticated
// callers alike. A fault with ItemID applies only to requests whose token
// names that item, after the token is checked and before rate limits and
// the endpoint's work.
type Fault struct {
	// Count is how many requests the fault affects; 0 means 1.
	Count int `json:"count,omitempty"`
	// Status, if not 0, is the HTTP status answered instead of the normal
	// response, with Error as the body.
	Status int `json:"status,omitempty"`
	// Error is the PlaidError body sent with Status. Nil picks Plaid's error
	// for ErrorCode, else for the status: 429 RATE_LIMIT_EXCEEDED/RATE_LIMIT,
	// any other status API_ERROR/INTERNAL_SERVER_ERROR.
	Error *PlaidError `json:"error,omitempty"`
	// ErrorCode names one of Plaid's error codes the Sim knows (e.g.
	// ITEM_LOGIN_REQUIRED, TRANSACTIONS_SYNC_LIMIT, PLANNED_MAINTENANCE);
	// it sets Error and, if Status is 0, Status to Plaid's own.
	ErrorCode string `json:"error_code,omitempty"`
	// Delay holds the answer back this long (or until the caller gives up).
	// With Status 0 the request takes effect at once and only its normal
	// answer is held, so a caller that gives up has lost the answer of a
	// call Plaid carried out (a refresh done, a public token exchanged); with
	// a Status the error follows the delay and nothing is done.
	Delay time.Duration `json:"-"`
	// ItemID scopes the fault to requests about one item.
	ItemID string `json:"item_id,omitempty"`
	// MutateAtPage, for /transactions/sync and /processor/transactions/sync,
	// makes the Sim really change the item's transactions (it adds one)
	// just before it serves page MutateAtPage (2 or more) of an update, so
	// that page fails with TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION the
	// way Plaid's does. The new transaction fires the usual webhooks and
	// shows up once the caller restarts the update.
	MutateAtPage int `json:"mutate_at_page,omitempty"`
}

// InjectFault queues f for path, one the Sim serves (e.g.
// "/transactions/sync"). Faults for one path apply in the order they were
// injected. It fails for an ErrorCode the Sim does not know or a
// MutateAtPage below 2 or on another path.
func (s *Sim) InjectFault(path string, f Fault) error {
	if f.Count <= 0 {
		f.Count = 1
	}
	if f.ErrorCode != "" && f.Error == nil {
		e, ok := plaidError(f.ErrorCode)
		if !ok {
			return fmt.Errorf("plaidsim: inject fault: unknown error_code %q", f.ErrorCode)
		}
		f.Error = &e.Body
		if f.Status == 0 {
			f.Status = e.Status
		}
	}
	if f.MutateAtPage != 0 && (f.MutateAtPage < 2 || (path != "/transactions/sync" && path != "/processor/transactions/sync")) {
		return fmt.Errorf("plaidsim: inject fault: mutate_at_page must be 2 or more, on a sync path")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], &f)
	return nil
}

// ClearFaults drops every queued fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

// takeFault consumes one use of the oldest fault queued for path that is
// not scoped to an item (it == nil) or is scoped to it.
func (s *Sim) takeFault(path string, it *item) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeFaultLocked(path, it)
}

func (s *Sim) takeFaultLocked(path string, it *item) *Fault {
	return s.takeMatching(path, func(f *Fault) bool {
		if f.MutateAtPage != 0 {
			return false
		}
		if it == nil {
			return f.ItemID == ""
		}
		return f.ItemID == it.id
	})
}

// takeMutateFault consumes one use of the oldest mutate-at-page fault for
// page of an update of it.
func (s *Sim) takeMutateFault(path string, it *item, page int) *Fault {
	return s.takeMatching(path, func(f *Fault) bool {
		return f.MutateAtPage == page && (f.ItemID == "" || f.ItemID == it.id)
	})
}

func (s *Sim) takeMatching(path string, match func(*Fault) bool) *Fault {
	q := s.faults[path]
	for i, f := range q {
		if !match(f) {
			continue
		}
		f.Count--
		if f.Count == 0 {
			q = append(q[:i:i], q[i+1:]...)
			if len(q) == 0 {
				delete(s.faults, path)
			} else {
				s.faults[path] = q
			}
		}
		return f
	}
	return nil
}

// applyFault carries out f's delay and error. It reports whether the
// request should go on (false: the answer was written, or the caller left).
func (s *Sim) applyFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if !sleep(r, f.Delay) {
		return false // the caller gave up
	}
	if f.Status != 0 {
		writeError(w, f.Status, f.answer())
		return false
	}
	return true
}

func (f *Fault) answer() *PlaidError {
	if f.Error != nil {
		return f.Error
	}
	if f.Status == http.StatusTooManyRequests {
		return &PlaidError{
			ErrorType:    "RATE_LIMIT_EXCEEDED",
			ErrorCode:    "RATE_LIMIT",
			ErrorMessage: rateLimitMessage,
		}
	}
	return &PlaidError{
		ErrorType:    "API_ERROR",
		ErrorCode:    "INTERNAL_SERVER_ERROR",
		ErrorMessage: "an unexpected error occurred",
	}
}
