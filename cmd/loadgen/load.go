package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// request is one pre-signed webhook: its exact body and a token no other
// request shares (JetStream would de-duplicate a shared one).
type request struct {
	body  []byte
	token string
}

// webhookBody renders a SYNC_UPDATES_AVAILABLE body the way Plaid does
// (keys sorted, two-space indent).
func webhookBody(itemID string) ([]byte, error) {
	return plaidsim.MarshalWebhookBody(map[string]any{
		"webhook_type":               "TRANSACTIONS",
		"webhook_code":               "SYNC_UPDATES_AVAILABLE",
		"item_id":                    itemID,
		"initial_update_complete":    true,
		"historical_update_complete": true,
		"environment":                "sandbox",
	})
}

// presign builds n requests over 1,000 distinct item ids, signing on every
// core. Signing happens here, before any timer starts.
func presign(n int, sign func([]byte) string) ([]request, error) {
	bodies := make([][]byte, min(n, 1000))
	for i := range bodies {
		b, err := webhookBody(fmt.Sprintf("bench-item-%04d", i))
		if err != nil {
			return nil, err
		}
		bodies[i] = b
	}
	reqs := make([]request, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				b := bodies[i%len(bodies)]
				reqs[i] = request{body: b, token: sign(b)}
			}
		})
	}
	wg.Wait()
	return reqs, nil
}

// loadSpec is one measured run against one target.
type loadSpec struct {
	Name  string
	URL   string
	Conns int
	// Rate is requests per second, open loop; 0 sends at maximum speed
	// with Conns requests in flight (closed loop).
	Rate     float64
	Requests []request
}

// loadResult is what one run measured. Latencies are in microseconds.
type loadResult struct {
	Name    string
	Rate    float64 // 0: max
	Conns   int
	Sent    int
	Elapsed time.Duration
	Hist    *hdrhistogram.Histogram
	// Status counts answers by HTTP status; 0 counts transport errors.
	Status map[int]int
	// Stored is how many messages the stream gained during the run (-1:
	// not checked).
	Stored int64
}

// newHist returns a histogram of 1 µs to 60 s with three significant
// digits.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) }

// OK is the number of 200 answers.
func (r loadResult) OK() int { return r.Status[http.StatusOK] }

// Throughput is 200 answers per second.
func (r loadResult) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK()) / r.Elapsed.Seconds()
}

// Quantile returns the q-th percentile latency (0 < q ≤ 100).
func (r loadResult) Quantile(q float64) time.Duration {
	return time.Duration(r.Hist.ValueAtQuantile(q)) * time.Microsecond
}

// StreamCheck says whether the stream holds exactly one message per 200.
func (r loadResult) StreamCheck() string {
	switch {
	case r.Stored < 0:
		return "not checked"
	case r.Stored == int64(r.OK()):
		return fmt.Sprintf("ok (%d stored = %d answered 200)", r.Stored, r.OK())
	default:
		return fmt.Sprintf("MISMATCH (%d stored, %d answered 200)", r.Stored, r.OK())
	}
}

// worker is one connection's sender with its own histogram and counts, so
// recording takes no lock.
type worker struct {
	client *http.Client
	url    string
	hist   *hdrhistogram.Histogram
	status map[int]int
}

// send posts one request and returns its status (0: transport error).
func (w *worker) send(ctx context.Context, r request) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(r.body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Plaid-Verification", r.token)
	resp, err := w.client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// record notes one answer that took d.
func (w *worker) record(status int, d time.Duration) {
	w.status[status]++
	_ = w.hist.RecordValue(max(1, d.Microseconds())) // beyond 60 s is clamped by the caller's timeout
}

// newClient returns an HTTP client keeping up to conns connections to one
// host alive.
func newClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	t.MaxConnsPerHost = conns
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// runLoad sends spec.Requests and measures every answer. At a fixed rate
// the latency of a request counts from its scheduled send time, so a
// server that falls behind is charged for the queue it causes (no
// coordinated omission).
func runLoad(ctx context.Context, client *http.Client, spec loadSpec) loadResult {
	workers := make([]*worker, spec.Conns)
	for i := range workers {
		workers[i] = &worker{client: client, url: spec.URL, hist: newHist(), status: map[int]int{}}
	}
	start := time.Now()
	if spec.Rate > 0 {
		runOpenLoop(ctx, workers, spec.Requests, spec.Rate, start)
	} else {
		runClosedLoop(ctx, workers, spec.Requests)
	}
	res := loadResult{Name: spec.Name, Rate: spec.Rate, Conns: spec.Conns, Sent: len(spec.Requests), Elapsed: time.Since(start), Hist: newHist(), Status: map[int]int{}, Stored: -1}
	for _, w := range workers {
		res.Hist.Merge(w.hist)
		for s, n := range w.status {
			res.Status[s] += n
		}
	}
	return res
}

// runClosedLoop keeps one request in flight per worker until all are sent.
func runClosedLoop(ctx context.Context, workers []*worker, reqs []request) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				t0 := time.Now()
				s := w.send(ctx, reqs[i])
				w.record(s, time.Since(t0))
			}
		})
	}
	wg.Wait()
}

// job is a request with the time it was scheduled for.
type job struct {
	i   int
	due time.Time
}

// runOpenLoop schedules request i at start + i/rate, whether or not earlier
// ones have been answered; workers take them in order.
func runOpenLoop(ctx context.Context, workers []*worker, reqs []request, rate float64, start time.Time) {
	jobs := make(chan job, len(reqs))
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				s := w.send(ctx, reqs[j.i])
				w.record(s, time.Since(j.due))
			}
		})
	}
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < len(reqs) && ctx.Err() == nil; {
		due := int(time.Since(start)/interval) + 1
		for ; i < len(reqs) && i < due; i++ {
			jobs <- job{i: i, due: start.Add(time.Duration(i) * interval)}
		}
		time.Sleep(min(interval, time.Millisecond)) // pacing, not synchronization
	}
	close(jobs)
	wg.Wait()
}

// statusText renders status counts in a stable order.
func statusText(m map[int]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		name := fmt.Sprint(k)
		if k == 0 {
			name = "error"
		}
		fmt.Fprintf(&b, "%s:%d", name, m[k])
	}
	return b.String()
}

// ms formats a duration in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

// printResult writes one run's raw output line.
func printResult(w io.Writer, r loadResult) {
	mode := "max"
	if r.Rate > 0 {
		mode = fmt.Sprintf("%.0f/s", r.Rate)
	}
	fmt.Fprintf(w, "%-9s %-8s conns=%-3d n=%-6d %8.1f s  %8.0f ok/s  p50=%s p90=%s p99=%s p99.9=%s max=%s ms  [%s]  stream %s\n",
		r.Name, mode, r.Conns, r.Sent, r.Elapsed.Seconds(), r.Throughput(),
		ms(r.Quantile(50)), ms(r.Quantile(90)), ms(r.Quantile(99)), ms(r.Quantile(99.9)), ms(time.Duration(r.Hist.Max())*time.Microsecond),
		statusText(r.Status), r.StreamCheck())
}
