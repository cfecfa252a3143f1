package adminhttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plaidstream/plaidstream/internal/adminhttp"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Inc()
	var notReady error
	srv := httptest.NewServer(adminhttp.Handler(reg, func(context.Context) error { return notReady }))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("/healthz: got %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Errorf("/readyz ready: got %d %s", code, body)
	}
	notReady = errors.New("nats not connected")
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "nats not connected") {
		t.Errorf("/readyz not ready: got %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "test_things_total 1") {
		t.Errorf("/metrics: got %d %s", code, body)
	}
	if code, _ := get("/plaid/webhook"); code != 404 {
		t.Errorf("unknown path: got %d, want 404", code)
	}
}
