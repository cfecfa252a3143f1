package plaidsim

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCloseLeavesNothingRunning starts readiness timers and webhook
// deliveries that wait for retries, closes the Sim, and checks that no
// goroutine of the Sim is left and that no webhook is sent afterwards.
func TestCloseLeavesNothingRunning(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	sim, err := New(Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	pending, err := sim.CreateItem(ItemOptions{NotReady: true, Webhook: failing.URL})
	if err != nil {
		t.Fatal(err)
	}
	ready, err := sim.CreateItem(ItemOptions{Webhook: failing.URL})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := sim.AddTransactions(ready.ItemID, map[string]any{"amount": 1}); err != nil {
			t.Fatal(err)
		}
	}
	if len(sim.WebhookDeliveries()) != 3 {
		t.Fatalf("%d deliveries", len(sim.WebhookDeliveries()))
	}
	srv.Close()
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	sim.mu.Lock()
	timers := len(sim.timers)
	sim.mu.Unlock()
	if timers != 0 {
		t.Errorf("%d readiness timers armed after Close", timers)
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "plaidsim.(*Sim)") || strings.Contains(g, "plaidsim.(*webhookSender)") {
			t.Errorf("goroutine left after Close:\n%s", g)
		}
	}
	if _, err := sim.AdvanceReadiness(pending.ItemID); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.AddTransactions(ready.ItemID, map[string]any{"amount": 1}); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.WebhookDeliveries()); n != 3 {
		t.Errorf("%d deliveries after Close, want the 3 from before", n)
	}
	if err := sim.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
