package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plaidstream/plaidstream/internal/bus"
	"github.com/plaidstream/plaidstream/internal/events"
	"github.com/plaidstream/plaidstream/internal/fetch"
	"github.com/plaidstream/plaidstream/internal/natstest"
	"github.com/plaidstream/plaidstream/internal/plaid"
)

// TestConsumerStoresThenAcks runs the program against a real JetStream
// server: it applies what the stream holds, acks only what it stored, and
// a second run resumes after the first without handling anything twice.
func TestConsumerStoresThenAcks(t *testing.T) {
	ctx := context.Background()
	js, natsURL := startJetStream(t)
	publish := func(msgs ...fetch.Message) {
		t.Helper()
		for _, m := range msgs {
			if _, err := js.Publish(ctx, m.Subject, m.Body, jetstream.WithMsgID(m.MsgID)); err != nil {
				t.Fatal(err)
			}
		}
	}
	build := func(start, end string, added ...plaid.Transaction) []fetch.Message {
		t.Helper()
		msgs, err := fetch.BuildUpdateEvents(&plaid.SyncUpdate{StartCursor: start, NextCursor: end, Added: added},
			fetch.UpdateParams{Owner: itemOwner, Environment: "sandbox", Now: observed})
		if err != nil {
			t.Fatal(err)
		}
		return msgs
	}
	first := build("", "c1", txn(t, "t1", "1.10", false, ""), txn(t, "t2", "-20", false, ""))
	publish(first...)
	// A copy of an event in the stream (a re-run beyond JetStream's
	// duplicate window) and a message that is not a CloudEvent.
	if _, err := js.Publish(ctx, first[0].Subject, first[0].Body); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "plaid.events.item-1.junk.x", []byte("not json")); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "store.json")
	args := []string{"--nats-url", natsURL, "--durable", "test", "--store", path, "--ack-wait", "2s", "--batch", "2"}
	cons := func() *jetstream.ConsumerInfo {
		t.Helper()
		c, err := js.Consumer(ctx, events.EventStream, "test")
		if err != nil {
			return nil
		}
		info, err := c.Info(ctx)
		if err != nil {
			return nil
		}
		return info
	}
	settled := func(seq uint64) func() bool {
		return func() bool {
			s, err := LoadStore(path)
			info := cons()
			return err == nil && s.StreamSeq == seq && info != nil && info.NumPending == 0 && info.NumAckPending == 0
		}
	}

	stop, logs := startConsumer(t, args)
	waitFor(t, "the first messages stored and acked", settled(5))
	stop()

	s, err := LoadStore(path)
	if err != nil {
		t.Fatal(err)
	}
	o := s.Owners[itemSrc]
	if o == nil {
		t.Fatalf("no owner %s; logs:\n%s", itemSrc, logs)
	}
	wantIDs(t, o, "t1", "t2")
	if s.Stats.Events != 5 || s.Stats.Duplicates != 1 || s.Stats.Malformed != 1 || s.Stats.Updates != 1 {
		t.Errorf("stats %+v, want 5 events, 1 duplicate, 1 malformed, 1 update", s.Stats)
	}

	publish(build("c1", "c2", txn(t, "t3", "3", true, ""))...)
	stop, logs = startConsumer(t, args)
	waitFor(t, "the second run's messages stored and acked", settled(7))
	stop()
	s, err = LoadStore(path)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, s.Owners[itemSrc], "t1", "t2", "t3")
	if s.Stats.Events != 7 || s.Owners[itemSrc].Gaps != 0 {
		t.Errorf("after the second run: %d events handled and %d gaps, want 7 and 0 (nothing handled twice); logs:\n%s", s.Stats.Events, s.Owners[itemSrc].Gaps, logs)
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"--dump", "--store", path}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var dumped Store
	if err := json.Unmarshal(out.Bytes(), &dumped); err != nil {
		t.Fatalf("--dump printed no store: %v\n%s", err, out.String())
	}
	if dumped.StreamSeq != 7 || len(dumped.Owners[itemSrc].Transactions) != 3 {
		t.Errorf("--dump: stream_seq %d with %d transactions, want 7 and 3", dumped.StreamSeq, len(dumped.Owners[itemSrc].Transactions))
	}
}

// TestRestartAfterACrashKeepsStreamOrder: a run died holding messages it
// had not applied. JetStream would redeliver them only after AckWait, and
// hand out newer ones first; the next run must still apply everything in
// stream order, skipping nothing.
func TestRestartAfterACrashKeepsStreamOrder(t *testing.T) {
	ctx := context.Background()
	js, natsURL := startJetStream(t)
	publish := func(start, end string, added []plaid.Transaction, rm ...plaid.RemovedTransaction) {
		t.Helper()
		msgs, err := fetch.BuildUpdateEvents(&plaid.SyncUpdate{StartCursor: start, NextCursor: end, Added: added, Removed: rm},
			fetch.UpdateParams{Owner: itemOwner, Environment: "sandbox", Now: observed})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if _, err := js.Publish(ctx, m.Subject, m.Body, jetstream.WithMsgID(m.MsgID)); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "store.json")
	// An AckWait far longer than the test: only a re-created consumer can
	// deliver the dead run's messages in time.
	args := []string{"--nats-url", natsURL, "--durable", "test", "--store", path, "--ack-wait", "10m"}

	publish("", "c1", []plaid.Transaction{txn(t, "t1", "1", false, ""), txn(t, "t2", "2", false, "")})
	// The dead run: it created the durable, fetched two messages and died
	// before writing its store.
	dead, err := js.CreateConsumer(ctx, events.EventStream, jetstream.ConsumerConfig{Durable: "test", FilterSubject: "plaid.events.>",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	b, err := dead.Fetch(2, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range b.Messages() {
		n++
	}
	if n != 2 {
		t.Fatalf("the dead run fetched %d messages, want 2", n)
	}
	publish("c1", "c2", []plaid.Transaction{txn(t, "t3", "3", false, "")}, removed("t1"))

	stop, logs := startConsumer(t, args)
	waitFor(t, "both updates applied", func() bool {
		s, err := LoadStore(path)
		return err == nil && s.Stats.Updates == 2
	})
	stop()
	s, err := LoadStore(path)
	if err != nil {
		t.Fatal(err)
	}
	o := s.Owners[itemSrc]
	wantIDs(t, o, "t2", "t3")
	if o.Gaps != 0 || s.Stats.Incomplete != 0 || s.Stats.Duplicates != 0 {
		t.Errorf("gaps %d, incomplete %d, duplicates %d; want none (events applied in stream order, once)\n%s", o.Gaps, s.Stats.Incomplete, s.Stats.Duplicates, logs)
	}
}

// startJetStream runs an embedded JetStream server with PLAID_EVENTS and
// returns a client and the server's URL.
func startJetStream(t *testing.T) (jetstream.JetStream, string) {
	t.Helper()
	natsURL, js := natstest.Start(t)
	if _, err := bus.EnsureStream(context.Background(), js, events.EventStreamSpec(), bus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	return js, natsURL
}

// startConsumer runs the program until stop is called; stop checks that
// it returned nil.
func startConsumer(t *testing.T, args []string) (stop func(), logs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(string) string { return "" }, logs, logs) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v\n%s", err, logs)
			}
		})
	}
	t.Cleanup(stop)
	return stop, logs
}

// waitFor polls cond until it holds (a condition, not a sleep).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
