//go:build unix

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	seedFlag = flag.Int64("seed", 0, "scenario seed (0: pick one and print it)")
	soakFlag = flag.Duration("soak", 0, "run TestSoak for this long (also PLAIDSTREAM_E2E_SOAK)")
	logsFlag = flag.String("logs", "", "write every process's whole log to this directory")
)

// binDir holds the binaries, built once per package run (see binaries).
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "plaidstream-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
	buildTook time.Duration
)

// binaries builds every program the scenario runs into binDir, once, the
// way they ship (CGO_ENABLED=0, -trimpath), and returns binDir. nats-server
// comes from the module version in go.mod.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		cmd := exec.Command("go", "build", "-trimpath", "-o", binDir+string(filepath.Separator),
			"github.com/nats-io/nats-server/v2",
			"github.com/plaidstream/plaidstream/cmd/plaidsim",
			"github.com/plaidstream/plaidstream/cmd/webhookd",
			"github.com/plaidstream/plaidstream/cmd/fetcher",
			"github.com/plaidstream/plaidstream/examples/consumer")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
		buildTook = time.Since(start)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	t.Logf("binaries built in %v", buildTook.Round(100*time.Millisecond))
	return binDir
}

// proc is one run of a program. Its output (stdout and stderr, line by
// line) is kept for waiting on log lines and for the failure report.
type proc struct {
	name string
	cmd  *exec.Cmd
	logs *logLines
	done chan struct{} // closed once the process has exited
	err  error         // Wait's error, set before done closes
}

// childEnv is the test's environment without settings the programs read,
// so a developer's shell cannot change what the test runs; env is added.
func childEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "NATS_"), strings.HasPrefix(k, "PLAID"), strings.HasPrefix(k, "FETCHER_"),
			strings.HasPrefix(k, "WEBHOOKD_"), k == "LOG_LEVEL":
			continue
		}
		out = append(out, kv)
	}
	return append(out, env...)
}

// startProc starts bin in its own process group (so a kill takes anything
// it started too) and returns at once.
func startProc(t *testing.T, name, bin string, args, env []string) *proc {
	t.Helper()
	p := &proc{name: name, logs: &logLines{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = childEnv(env...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	p.cmd.SysProcAttr = sysProcAttr()
	// A child that keeps the output pipe open must not hang Wait.
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL to the process group and waits for the exit.
func (p *proc) kill() {
	if p.alive() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-p.done
}

// stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it; only the latter is an error (p.err has the exit status).
func (p *proc) stop(grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		p.kill()
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed", p.name, grace)
	}
}

// waitLine waits until the process logs a line for which match returns
// true, and returns that line. It fails the test if the process exits or
// within passes first.
func (p *proc) waitLine(t *testing.T, what string, within time.Duration, match func(string) bool) string {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for i := 0; ; {
		lines, changed := p.logs.since(i)
		for _, l := range lines {
			if match(l) {
				return l
			}
		}
		i += len(lines)
		select {
		case <-changed:
		case <-p.done:
			if lines, _ := p.logs.since(i); len(lines) > 0 {
				continue // read what it wrote last
			}
			t.Fatalf("%s exited (%v) before %s:\n%s", p.name, p.err, what, p.logs.tail(30))
		case <-deadline.C:
			t.Fatalf("%s: no %s within %v:\n%s", p.name, what, within, p.logs.tail(30))
		}
	}
}

// jsonLine decodes a JSON log line; ok is false for any other line.
func jsonLine(line string) (map[string]any, bool) {
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) != nil {
		return nil, false
	}
	return m, true
}

// msgField returns the log line's field k if its msg is msg.
func msgField(line, msg, k string) (string, bool) {
	m, ok := jsonLine(line)
	if !ok || m["msg"] != msg {
		return "", false
	}
	v, ok := m[k].(string)
	return v, ok
}

// logLines collects a process's output as lines and tells waiters when
// more arrive.
type logLines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{}
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
		added = true
	}
	if added && l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return len(p), nil
}

// since returns the lines from index i on, and a channel closed when more
// arrive.
func (l *logLines) since(i int) ([]string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	var out []string
	if i < len(l.lines) {
		out = append(out, l.lines[i:]...)
	}
	return out, l.changed
}

// all returns every line so far.
func (l *logLines) all() []string {
	lines, _ := l.since(0)
	return lines
}

// tail returns the last n lines, one string.
func (l *logLines) tail(n int) string {
	lines := l.all()
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// errStopped is returned by helpers whose context ended.
var errStopped = errors.New("stopped")

// pollUntil calls cond every interval until it returns true or ctx ends;
// it is how the test waits for a state, never for a time.
func pollUntil(ctx context.Context, interval time.Duration, cond func() bool) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return errStopped
		case <-t.C:
		}
	}
}
