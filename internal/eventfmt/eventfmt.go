// Package eventfmt renders PLAID_EVENTS events as one readable line each,
// for `fetcher events tail` and devstack.
package eventfmt

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/plaidstream/plaidstream/internal/events"
)

// Line renders e as one line: time, owner, type and the change in a few
// words. It never fails: a payload it cannot read is shown by its subject.
func Line(e events.Event) string {
	owner := ownerOf(e.Source)
	return fmt.Sprintf("%s  %-22s  %-31s  %s", e.Time.UTC().Format(time.TimeOnly+".000"), shorten(owner, 22), e.Type, Summary(e))
}

// Summary describes what changed in e.
func Summary(e events.Event) string {
	switch e.Type {
	case events.TypeTransactionAdded, events.TypeTransactionModified, events.TypeTransactionPosted:
		var t events.Transaction
		if json.Unmarshal(e.Data, &t) != nil {
			return e.Subject
		}
		s := fmt.Sprintf("%s  %s %s  %q  %s", t.TransactionID, t.Amount, currency(t.ISOCurrencyCode, t.UnofficialCurrencyCode), t.Name, t.Date)
		if t.Pending {
			s += "  pending"
		}
		if e.Type == events.TypeTransactionPosted && t.PendingTransactionID != nil {
			s = *t.PendingTransactionID + " → " + s
		}
		return s
	case events.TypeTransactionRemoved:
		return e.Subject
	case events.TypeRecurringStreamAdded, events.TypeRecurringStreamModified:
		var r events.RecurringStream
		if json.Unmarshal(e.Data, &r) != nil {
			return e.Subject
		}
		amount := ""
		if r.LastAmount != nil && r.LastAmount.Amount != nil {
			amount = *r.LastAmount.Amount + " " + currency(r.LastAmount.ISOCurrencyCode, r.LastAmount.UnofficialCurrencyCode)
		}
		return fmt.Sprintf("%s  %s %q %s  %s  %s", r.StreamID, r.Flow, r.Description, r.Frequency, amount, r.Status)
	case events.TypeRecurringStreamRemoved:
		return e.Subject
	case events.TypeSyncCompleted:
		var c events.SyncCompleted
		if json.Unmarshal(e.Data, &c) != nil {
			return ""
		}
		return fmt.Sprintf("+%d ~%d -%d posted %d  cursor %s → %s  %s", c.Added, c.Modified, c.Removed, c.Posted,
			shortCursor(c.StartCursor), shortCursor(c.EndCursor), c.TransactionsUpdateStatus)
	}
	if strings.HasPrefix(e.Type, events.TypeItemPrefix) {
		var s events.ItemStatus
		if json.Unmarshal(e.Data, &s) != nil {
			return ""
		}
		out := ""
		var pe struct {
			ErrorCode string `json:"error_code"`
		}
		if len(s.Error) > 0 && json.Unmarshal(s.Error, &pe) == nil && pe.ErrorCode != "" {
			out = pe.ErrorCode
		}
		if s.Parked {
			out = strings.TrimSpace(out + "  parked")
		}
		if e.ResyncEpoch > 0 {
			out = strings.TrimSpace(fmt.Sprintf("%s  epoch %d", out, e.ResyncEpoch))
		}
		return out
	}
	return e.Subject
}

// ownerOf returns the item or processor account a source names:
// "plaid/<env>/items/<item_id>" or ".../processor/<account_id>".
func ownerOf(source string) string {
	parts := strings.Split(source, "/")
	if len(parts) >= 2 {
		last := parts[len(parts)-1]
		if parts[len(parts)-2] == "processor" {
			return "processor/" + last
		}
		return last
	}
	return source
}

func currency(iso, unofficial *string) string {
	switch {
	case iso != nil:
		return *iso
	case unofficial != nil:
		return *unofficial
	}
	return ""
}

func shortCursor(c string) string {
	if c == "" {
		return `""`
	}
	return shorten(c, 10)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
