package fetch

import (
	"bytes"
	"strings"

	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// NormalizeTransaction maps a Plaid transaction to the data of
// plaid.transaction.added, .modified and .posted events.
//
// Field names and values are Plaid's. Amount is Plaid's JSON number in plain
// decimal notation with every digit it sent: "1e2" becomes "100", but "-0.10"
// stays "-0.10" and "72.1" stays "72.1" (Decimal.Plain never rounds, pads or
// trims). Direction follows the amount's sign; any zero ("0", "-0.00") is
// none. item_id is set for item owners only. Counterparties is never null
// (an absent list becomes []); counterparties' account numbers are not
// copied. Raw, Plaid's whole object as received, is kept only when keepRaw
// is set; it holds every field this mapping leaves out.
//
// The result shares no memory with t.
func NormalizeTransaction(t plaid.Transaction, owner events.Owner, keepRaw bool) events.Transaction {
	amount := t.Amount.Plain()
	out := events.Transaction{
		SchemaVersion:           events.SchemaVersion,
		TransactionID:           t.TransactionID,
		AccountID:               t.AccountID,
		ItemID:                  itemIDOf(owner),
		PendingTransactionID:    clone(t.PendingTransactionID),
		Pending:                 t.Pending,
		Amount:                  amount,
		Direction:               events.DirectionOf(amount),
		ISOCurrencyCode:         clone(t.ISOCurrencyCode),
		UnofficialCurrencyCode:  clone(t.UnofficialCurrencyCode),
		Date:                    t.Date,
		Datetime:                clone(t.Datetime),
		AuthorizedDate:          clone(t.AuthorizedDate),
		AuthorizedDatetime:      clone(t.AuthorizedDatetime),
		Name:                    t.Name,
		MerchantName:            clone(t.MerchantName),
		MerchantEntityID:        clone(t.MerchantEntityID),
		OriginalDescription:     clone(t.OriginalDescription),
		LogoURL:                 clone(t.LogoURL),
		Website:                 clone(t.Website),
		PaymentChannel:          t.PaymentChannel,
		TransactionCode:         clone(t.TransactionCode),
		CheckNumber:             clone(t.CheckNumber),
		AccountOwner:            clone(t.AccountOwner),
		PersonalFinanceCategory: normalizePFC(t.PersonalFinanceCategory),
		Counterparties:          make([]events.Counterparty, 0, len(t.Counterparties)),
		Location: events.Location{
			Address:     clone(t.Location.Address),
			City:        clone(t.Location.City),
			Region:      clone(t.Location.Region),
			PostalCode:  clone(t.Location.PostalCode),
			Country:     clone(t.Location.Country),
			Lat:         plainPtr(t.Location.Lat),
			Lon:         plainPtr(t.Location.Lon),
			StoreNumber: clone(t.Location.StoreNumber),
		},
		PaymentMeta: events.PaymentMeta{
			ReferenceNumber:  clone(t.PaymentMeta.ReferenceNumber),
			PPDID:            clone(t.PaymentMeta.PPDID),
			Payee:            clone(t.PaymentMeta.Payee),
			ByOrderOf:        clone(t.PaymentMeta.ByOrderOf),
			Payer:            clone(t.PaymentMeta.Payer),
			PaymentMethod:    clone(t.PaymentMeta.PaymentMethod),
			PaymentProcessor: clone(t.PaymentMeta.PaymentProcessor),
			Reason:           clone(t.PaymentMeta.Reason),
		},
	}
	for _, c := range t.Counterparties {
		out.Counterparties = append(out.Counterparties, events.Counterparty{
			Name:            c.Name,
			Type:            c.Type,
			EntityID:        clone(c.EntityID),
			Website:         clone(c.Website),
			LogoURL:         clone(c.LogoURL),
			ConfidenceLevel: clone(c.ConfidenceLevel),
		})
	}
	if keepRaw {
		out.Raw = rawCopy(t.Raw)
	}
	return out
}

// NormalizeRemovedTransaction maps an entry of Plaid's removed list to the
// data of plaid.transaction.removed.
func NormalizeRemovedTransaction(r plaid.RemovedTransaction, owner events.Owner) events.RemovedTransaction {
	return events.RemovedTransaction{
		SchemaVersion: events.SchemaVersion,
		TransactionID: r.TransactionID,
		AccountID:     r.AccountID,
		ItemID:        itemIDOf(owner),
	}
}

// NormalizeStream maps a Plaid recurring stream to the data of
// plaid.recurring_stream.added and .modified. flow is events.StreamInflow or
// events.StreamOutflow: which of Plaid's two lists the stream came from.
// Amounts are plain decimal text as in NormalizeTransaction;
// TransactionIDs is never null. Plaid's deprecated category fields are not
// in the payload (they are in Raw when keepRaw is set).
//
// The result shares no memory with s.
func NormalizeStream(s plaid.TransactionStream, flow string, owner events.Owner, keepRaw bool) events.RecurringStream {
	out := events.RecurringStream{
		SchemaVersion:           events.SchemaVersion,
		StreamID:                s.StreamID,
		AccountID:               s.AccountID,
		ItemID:                  itemIDOf(owner),
		Flow:                    flow,
		Description:             s.Description,
		MerchantName:            clone(s.MerchantName),
		FirstDate:               s.FirstDate,
		LastDate:                s.LastDate,
		PredictedNextDate:       clone(s.PredictedNextDate),
		Frequency:               s.Frequency,
		TransactionIDs:          append(make([]string, 0, len(s.TransactionIDs)), s.TransactionIDs...),
		AverageAmount:           normalizeStreamAmount(s.AverageAmount),
		LastAmount:              normalizeStreamAmount(s.LastAmount),
		IsActive:                s.IsActive,
		Status:                  s.Status,
		IsUserModified:          s.IsUserModified,
		PersonalFinanceCategory: normalizePFC(s.PersonalFinanceCategory),
	}
	if s.LastUserModifiedDatetime != "" {
		t := s.LastUserModifiedDatetime
		out.LastUserModifiedDatetime = &t
	}
	if keepRaw {
		out.Raw = rawCopy(s.Raw)
	}
	return out
}

// StreamTombstoned is the status of a recurring stream Plaid no longer
// considers recurring; such a stream counts as removed.
const StreamTombstoned = "TOMBSTONED"

// isTombstoned reports whether a Plaid stream status is TOMBSTONED (compared
// case-insensitively: Plaid's enumerations are upper case, and a differently
// cased spelling must not resurrect a dead stream).
func isTombstoned(status string) bool { return strings.EqualFold(status, StreamTombstoned) }

func normalizeStreamAmount(a plaid.TransactionStreamAmount) *events.StreamAmount {
	return &events.StreamAmount{
		Amount:                 plainPtr(a.Amount),
		ISOCurrencyCode:        clone(a.ISOCurrencyCode),
		UnofficialCurrencyCode: clone(a.UnofficialCurrencyCode),
	}
}

func normalizePFC(p *plaid.PersonalFinanceCategory) *events.PersonalFinanceCategory {
	if p == nil {
		return nil
	}
	return &events.PersonalFinanceCategory{
		Primary:         p.Primary,
		Detailed:        p.Detailed,
		ConfidenceLevel: clone(p.ConfidenceLevel),
		Version:         p.Version,
	}
}

// plainPtr renders an optional Decimal in plain notation.
func plainPtr(d *plaid.Decimal) *string {
	if d == nil {
		return nil
	}
	s := d.Plain()
	return &s
}

// clone copies an optional value so the payload shares no memory with
// Plaid's object.
func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// rawCopy copies a Raw object; an empty one stays nil (omitted).
func rawCopy(b []byte) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return bytes.Clone(b)
}
