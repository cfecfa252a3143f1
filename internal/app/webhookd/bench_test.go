package webhookd

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// BenchmarkWebhook measures the whole request path over loopback HTTP:
// verification (cached key), envelope decoding and a JetStream publish to
// file storage awaited for its PubAck. Tokens are signed before the timer
// starts, one per request, so JetStream never de-duplicates them.
func BenchmarkWebhook(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			h := newHarness(b)
			bodies := make([][]byte, b.N)
			tokens := make([]string, b.N)
			for i := range b.N {
				bodies[i] = syncUpdates(b, fmt.Sprintf("item-%d", i%1000))
				tokens[i] = h.sim.SignWebhook(bodies[i])
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var next atomic.Int64
			post := func() {
				i := next.Add(1) - 1
				req, _ := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(bodies[i]))
				req.Header.Set("Plaid-Verification", tokens[i])
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			if parallel {
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						post()
					}
				})
			} else {
				for range b.N {
					post()
				}
			}
			b.StopTimer()
			if got := len(h.messages()); got != b.N {
				b.Fatalf("stream holds %d messages, want %d", got, b.N)
			}
		})
	}
}
