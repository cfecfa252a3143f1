package plaidspec

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// Transport returns a RoundTripper for tests that sends every request with
// base (http.DefaultTransport if nil) and checks the exchange with
// s.ValidateExchange, failing t (t.Errorf, so it is safe from any goroutine)
// on a violation. Requests whose path the spec does not define fail too.
// Transport failures are passed through unchecked.
func Transport(t testing.TB, s *Spec, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, spec: s, base: base}
}

type transport struct {
	t    testing.TB
	spec *Spec
	base http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
	}
	// RoundTrippers must not modify the request they are given.
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(reqBody))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }

	resp, err := tr.base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	if err := tr.spec.ValidateExchange(req.Context(), req, reqBody, resp.StatusCode, resp.Header, respBody); err != nil {
		tr.t.Errorf("Plaid OpenAPI violation: %v\nrequest body: %s\nresponse body: %s", err, clip(reqBody), clip(respBody))
	}
	return resp, nil
}

// clip keeps failure messages readable.
func clip(b []byte) []byte {
	const max = 2 << 10
	if len(b) <= max {
		return b
	}
	return append(b[:max:max], "…"...)
}
