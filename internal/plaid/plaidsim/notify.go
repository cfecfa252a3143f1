package plaidsim

import (
	"slices"
	"time"
)

// environment is the value of every webhook's environment field.
const environment = "sandbox"

// outgoing is a webhook ready to send.
type outgoing struct {
	url  string
	body []byte
}

// outbox collects webhooks while the Sim's lock is held; send delivers them
// after it is released (the delivery engine signs with SignWebhook, which
// takes the lock).
type outbox []outgoing

// queue serialises body the way Plaid does and adds it to out, remembering
// it as the last webhook of it (nil for processor-token webhooks). s.mu is
// held.
func (s *Sim) queue(out *outbox, it *item, url string, body map[string]any) {
	if url == "" {
		return
	}
	body["environment"] = environment
	raw, err := MarshalWebhookBody(body)
	if err != nil {
		panic("plaidsim: webhook body: " + err.Error()) // our own maps always encode
	}
	*out = append(*out, outgoing{url: url, body: raw})
	if it != nil {
		it.lastWebhookAt = s.now()
		it.lastWebhookCode, _ = body["webhook_code"].(string)
	}
}

// send hands queued webhooks to the delivery engine.
func (s *Sim) send(out outbox) {
	if len(out) == 0 {
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	for _, o := range out {
		s.sender.Send(o.url, o.body)
	}
}

func (it *item) userFields(body map[string]any) map[string]any {
	if it.userID != "" {
		body["user_id"] = it.userID
	}
	return body
}

// syncFlags are SYNC_UPDATES_AVAILABLE's flags for the item's status.
func (it *item) syncFlags() (initial, historical bool) {
	return it.status != statusNotReady, it.status == statusHistorical
}

// notifyChanges fires the webhooks Plaid sends when an item's transactions
// change: SYNC_UPDATES_AVAILABLE (only once /transactions/sync has been
// called on the item), DEFAULT_UPDATE, and TRANSACTIONS_REMOVED if anything
// was removed; and their processor variants to every processor token of a
// changed account that has a webhook. Nothing fires while the item is
// NOT_READY: its INITIAL_UPDATE is still to come. s.mu is held.
func (s *Sim) notifyChanges(it *item, cs *changeSet, out *outbox) {
	if cs.empty() || it.status == statusNotReady || it.removed {
		return
	}
	it.lastUpdate = s.now()
	initial, historical := it.syncFlags()
	if it.webhook != "" {
		if it.syncActivated {
			s.queue(out, it, it.webhook, it.userFields(map[string]any{
				"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "item_id": it.id,
				"initial_update_complete": initial, "historical_update_complete": historical,
			}))
		}
		s.queue(out, it, it.webhook, map[string]any{
			"webhook_type": "TRANSACTIONS", "webhook_code": "DEFAULT_UPDATE", "item_id": it.id,
			"new_transactions": cs.totalAdded(), "error": nil,
		})
		if removed := cs.allRemoved(); len(removed) > 0 {
			s.queue(out, it, it.webhook, map[string]any{
				"webhook_type": "TRANSACTIONS", "webhook_code": "TRANSACTIONS_REMOVED", "item_id": it.id,
				"removed_transactions": removed, "error": nil,
			})
		}
	}
	for _, p := range it.processors {
		if p.webhook == "" || !cs.changed[p.accountID] {
			continue
		}
		if p.syncActivated {
			s.queue(out, nil, p.webhook, map[string]any{
				"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "account_id": p.accountID,
				"initial_update_complete": initial, "historical_update_complete": historical,
			})
		}
		s.queue(out, nil, p.webhook, map[string]any{
			"webhook_type": "TRANSACTIONS", "webhook_code": "DEFAULT_UPDATE", "account_id": p.accountID,
			"new_transactions": cs.added[p.accountID], "error": nil,
		})
		if removed := cs.removed[p.accountID]; len(removed) > 0 {
			s.queue(out, nil, p.webhook, map[string]any{
				"webhook_type": "TRANSACTIONS", "webhook_code": "TRANSACTIONS_REMOVED", "account_id": p.accountID,
				"removed_transactions": removed, "error": nil,
			})
		}
	}
}

// notifyRecurring fires RECURRING_TRANSACTIONS_UPDATE for changed streams
// of the given accounts, and the processor variant to processor tokens of
// those accounts. s.mu is held.
func (s *Sim) notifyRecurring(it *item, accountIDs []string, out *outbox) {
	if len(accountIDs) == 0 || it.removed {
		return
	}
	s.queue(out, it, it.webhook, map[string]any{
		"webhook_type": "TRANSACTIONS", "webhook_code": "RECURRING_TRANSACTIONS_UPDATE", "item_id": it.id,
		"account_ids": accountIDs,
	})
	for _, p := range it.processors {
		if p.webhook != "" && slices.Contains(accountIDs, p.accountID) {
			s.queue(out, nil, p.webhook, map[string]any{
				"webhook_type": "TRANSACTIONS", "webhook_code": "RECURRING_TRANSACTIONS_UPDATE", "account_id": p.accountID,
			})
		}
	}
}

// notifyItemError fires ITEM / ERROR with the item's error. s.mu is held.
func (s *Sim) notifyItemError(it *item, e *Error, out *outbox) {
	s.queue(out, it, it.webhook, it.userFields(map[string]any{
		"webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": it.id, "error": e.forWebhook(),
	}))
}

// notifyLoginRepaired fires ITEM / LOGIN_REPAIRED. s.mu is held.
func (s *Sim) notifyLoginRepaired(it *item, out *outbox) {
	s.queue(out, it, it.webhook, it.userFields(map[string]any{
		"webhook_type": "ITEM", "webhook_code": "LOGIN_REPAIRED", "item_id": it.id,
	}))
}

// ReadinessDelays are the times after an item's creation at which a
// NOT_READY item reaches INITIAL_UPDATE_COMPLETE and then
// HISTORICAL_UPDATE_COMPLETE, before division by Options.TimeFactor. In
// JSON they are Go durations ("5s", "1m30s").
type ReadinessDelays struct {
	Initial    Duration `json:"initial"`
	Historical Duration `json:"historical"`
}

// Default readiness delays: Plaid's typical timings ("INITIAL_UPDATE
// typically fires within 10 seconds, and HISTORICAL_UPDATE within 1
// minute").
const (
	defaultInitialDelay    = 10 * time.Second
	defaultHistoricalDelay = time.Minute
)

// scheduleReadiness arms the timer for the item's next readiness step.
// s.mu is held.
func (s *Sim) scheduleReadiness(it *item) {
	s.cancelTimer(it.timer)
	it.timer = nil
	var d time.Duration
	switch it.status {
	case statusNotReady:
		d = time.Duration(it.delays.Initial)
	case statusInitial:
		d = time.Duration(it.delays.Historical) - time.Duration(it.delays.Initial)
	default:
		return
	}
	it.timer = s.schedule(s.scaled(max(d, 0)), func() {
		var out outbox
		s.mu.Lock()
		it.timer = nil
		if !it.removed {
			s.advanceReadiness(it, &out)
		}
		s.mu.Unlock()
		s.send(out)
	})
}

// advanceReadiness moves the item one readiness step on: NOT_READY →
// INITIAL_UPDATE_COMPLETE (the last 30 days become visible) →
// HISTORICAL_UPDATE_COMPLETE (the rest). Each step fires
// SYNC_UPDATES_AVAILABLE (once /transactions/sync was called) and
// INITIAL_UPDATE or HISTORICAL_UPDATE, item and processor variants. It
// reports false when the item was already complete. s.mu is held.
func (s *Sim) advanceReadiness(it *item, out *outbox) bool {
	var stage int
	var code string
	switch it.status {
	case statusNotReady:
		stage, code, it.status = 0, "INITIAL_UPDATE", statusInitial
	case statusInitial:
		stage, code, it.status = 1, "HISTORICAL_UPDATE", statusHistorical
	default:
		return false
	}
	var cs changeSet
	for _, t := range it.staged[stage] {
		it.insert(t, &cs)
	}
	it.staged[stage] = nil
	it.lastUpdate = s.now()
	s.scheduleReadiness(it)

	initial, historical := it.syncFlags()
	if it.webhook != "" {
		if it.syncActivated {
			s.queue(out, it, it.webhook, it.userFields(map[string]any{
				"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "item_id": it.id,
				"initial_update_complete": initial, "historical_update_complete": historical,
			}))
		}
		s.queue(out, it, it.webhook, map[string]any{
			"webhook_type": "TRANSACTIONS", "webhook_code": code, "item_id": it.id,
			"new_transactions": cs.totalAdded(), "error": nil,
		})
	}
	for _, p := range it.processors {
		if p.webhook == "" {
			continue
		}
		if p.syncActivated {
			s.queue(out, nil, p.webhook, map[string]any{
				"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "account_id": p.accountID,
				"initial_update_complete": initial, "historical_update_complete": historical,
			})
		}
		s.queue(out, nil, p.webhook, map[string]any{
			"webhook_type": "TRANSACTIONS", "webhook_code": code, "account_id": p.accountID,
			"new_transactions": cs.added[p.accountID], "error": nil,
		})
	}
	return true
}
