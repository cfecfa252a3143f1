package devstack

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var freePorts = []string{"--nats-port", "0", "--plaid-port", "0", "--webhook-port", "0", "--webhookd-admin-port", "0", "--fetcher-admin-port", "0"}

// TestStoryEndsConsistent runs the whole story on free ports and expects
// every step's events and the consistency check to pass.
func TestStoryEndsConsistent(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), append([]string{"--exit-after-story"}, freePorts...), &out, io.Discard); err != nil {
		t.Fatalf("devstack: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"plaid.transaction.posted", "plaid.transaction.removed", "plaid.recurring_stream.added", "plaid.item.error",
		"consistency with plaidsim's ground truth: OK", "0 gaps",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// lockedBuffer is a goroutine-safe output sink.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestStopsCleanly: after the story devstack waits; when interrupted it
// returns, leaving no listener open and no temporary directory behind.
func TestStopsCleanly(t *testing.T) {
	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, freePorts, &out, io.Discard) }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "What next") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("devstack never finished its story:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	text := out.String()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("devstack returned %v", err)
	}
	webhook := regexp.MustCompile(`webhookd\s+(http://\S+)`).FindStringSubmatch(text)
	dataDir := regexp.MustCompile(`data in (\S+)\)`).FindStringSubmatch(text)
	if webhook == nil || dataDir == nil {
		t.Fatalf("banner lacks the webhook URL or data dir:\n%s", text)
	}
	u, err := url.Parse(webhook[1])
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		conn.Close()
		t.Errorf("webhookd still listens on %s after devstack stopped", u.Host)
	}
	if _, err := os.Stat(dataDir[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data dir %s left behind (%v)", dataDir[1], err)
	}
}

func TestHelpAndBadFlags(t *testing.T) {
	var errOut bytes.Buffer
	if err := Run(context.Background(), []string{"--help"}, io.Discard, &errOut); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	if !strings.Contains(errOut.String(), "fetcher-admin-port") || !strings.Contains(errOut.String(), "Ctrl-C") {
		t.Errorf("--help does not explain the flags:\n%s", errOut.String())
	}
	if err := Run(context.Background(), []string{"--nope"}, io.Discard, io.Discard); err == nil {
		t.Error("an unknown flag was accepted")
	}
}
