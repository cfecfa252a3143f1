package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/plaidstream/plaidstream/internal/plaid/plaidsim"
)

// runBurst sends n webhooks at once, all signed with a key the receiver has
// never seen (a fresh simulator, so a fresh kid), and counts how often the
// receiver asked for that key. A correct cache asks once.
func runBurst(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen burst", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:7601/plaid/webhook", "webhook endpoint")
	keyServer := fs.String("key-server", "127.0.0.1:7610", "where the fresh key is served (the receiver's Plaid base URL)")
	n := fs.Int("n", 1000, "concurrent webhooks, one connection each")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	sim, stop, err := serveKeys(*keyServer, plaidsim.DefaultClientID, plaidsim.DefaultSecret)
	if err != nil {
		return err
	}
	defer stop()
	reqs, err := presign(*n, sim.SignWebhook)
	if err != nil {
		return err
	}
	res := burst(ctx, *url, reqs)
	fetches := sim.KeyFetches()
	fmt.Fprintf(stdout, "burst: %d concurrent webhooks with new kid %s: %s in %s, p50=%s p99=%s max=%s ms; key fetches: %d\n",
		*n, sim.CurrentKeyID(), statusText(res.Status), res.Elapsed.Round(time.Millisecond),
		ms(res.Quantile(50)), ms(res.Quantile(99)), ms(time.Duration(res.Hist.Max())*time.Microsecond), fetches)
	if fetches != 1 || res.OK() != *n {
		return fmt.Errorf("burst: want %d × 200 and exactly 1 key fetch, got %s and %d fetches", *n, statusText(res.Status), fetches)
	}
	return nil
}

// burst opens one connection per request, then releases all requests at
// once.
func burst(ctx context.Context, url string, reqs []request) loadResult {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(reqs), DisableCompression: true}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	workers := make([]*worker, len(reqs))
	for i := range workers {
		workers[i] = &worker{client: client, url: url, hist: newHist(), status: map[int]int{}}
	}
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	for i, w := range workers {
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-gate
			t0 := time.Now()
			w.record(w.send(ctx, reqs[i]), time.Since(t0))
		})
	}
	ready.Wait()
	start := time.Now()
	close(gate)
	done.Wait()
	res := loadResult{Name: "burst", Conns: len(reqs), Sent: len(reqs), Elapsed: time.Since(start), Hist: newHist(), Status: map[int]int{}, Stored: -1}
	for _, w := range workers {
		res.Hist.Merge(w.hist)
		for s, c := range w.status {
			res.Status[s] += c
		}
	}
	return res
}
