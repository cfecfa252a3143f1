package items

import (
	"time"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
)

// View describes a registered owner: its registration and sync state, never
// its token or the cursor's text.
type View struct {
	// Owner is the events.OwnerKey ("item.<id>", "processor.<account_id>").
	Owner       string           `json:"owner"`
	Kind        events.OwnerKind `json:"kind"`
	ID          string           `json:"id"`
	Environment string           `json:"environment"`
	UserID      string           `json:"user_id,omitempty"`
	// KeyID names the token key the token is sealed with.
	KeyID        string    `json:"key_id"`
	RegisteredAt time.Time `json:"registered_at,omitzero"`
	TokenUpdated time.Time `json:"token_updated_at,omitzero"`
	Sync         SyncView  `json:"sync"`
}

// SyncView is an owner's sync state.
type SyncView struct {
	CursorPresent    bool      `json:"cursor_present"`
	ResyncEpoch      uint64    `json:"resync_epoch"`
	SyncedThroughSeq uint64    `json:"synced_through_seq"`
	LastSyncAt       time.Time `json:"last_sync_at,omitzero"`
	LastSyncOutcome  string    `json:"last_sync_outcome,omitempty"`
	LastError        string    `json:"last_error,omitempty"`
	Parked           bool      `json:"parked"`
	ParkedReason     string    `json:"parked_reason,omitempty"`
	ParkedAt         time.Time `json:"parked_at,omitzero"`
	Overdue          bool      `json:"overdue"`
	LastWebhookAt    time.Time `json:"last_webhook_at,omitzero"`
}

func newView(c bus.CredentialInfo, st *bus.ItemState) View {
	v := View{
		Owner: c.Owner, Kind: c.Kind, ID: c.ID, Environment: c.Environment, UserID: c.UserID,
		KeyID: c.KeyID, RegisteredAt: c.CreatedAt, TokenUpdated: c.UpdatedAt,
	}
	if st != nil {
		v.Sync = SyncView{
			CursorPresent: st.Cursor != "", ResyncEpoch: st.ResyncEpoch, SyncedThroughSeq: st.SyncedThroughSeq,
			LastSyncAt: st.LastSyncAt, LastSyncOutcome: st.LastSyncOutcome, LastError: st.LastError,
			Parked: st.Parked, ParkedReason: st.ParkedReason, ParkedAt: st.ParkedAt,
			Overdue: st.Overdue, LastWebhookAt: st.LastWebhookAt,
		}
	}
	return v
}
