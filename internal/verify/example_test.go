package verify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plaidstream/plaidstream/internal/verify"
	"github.com/plaidstream/plaidstream/internal/verify/verifytest"
)

func ExampleVerifier_Verify() {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	// In production the KeyFetcher calls Plaid's /webhook_verification_key/get;
	// here a test signer plays Plaid and StaticKeys holds its key.
	plaid, err := verifytest.NewSigner("bfbd5111-8e33-4643-8ced-b2e642a72f3c", now.Add(-24*time.Hour))
	if err != nil {
		panic(err)
	}
	resp, _ := json.Marshal(map[string]any{"key": plaid.JWK(nil), "request_id": "RZ6Omi1bzzwDaLo"})
	key, err := verify.ParseJWK(resp)
	if err != nil {
		panic(err)
	}
	v := verify.New(verify.StaticKeys{key}, verify.Options{Now: func() time.Time { return now }})

	body := []byte("{\n  \"webhook_code\": \"SYNC_UPDATES_AVAILABLE\",\n  \"webhook_type\": \"TRANSACTIONS\"\n}")
	token := plaid.Sign(body, now.Add(-30*time.Second)) // the Plaid-Verification header

	res, err := v.Verify(context.Background(), token, body)
	fmt.Println(res.KeyID, res.IssuedAt.Format(time.RFC3339), err)

	// The same token over re-encoded bytes fails: hash the raw body.
	_, err = v.Verify(context.Background(), token, append(body, '\n'))
	fmt.Println(verify.Reason(err))

	_, err = v.Verify(context.Background(), "", body)
	fmt.Println(verify.Reason(err))
	// Output:
	// bfbd5111-8e33-4643-8ced-b2e642a72f3c 2025-06-01T11:59:30Z <nil>
	// body_mismatch
	// missing_header
}

func ExampleInspect() {
	plaid, _ := verifytest.NewSigner("kid-1", time.Unix(0, 0))
	token := plaid.Sign([]byte("{}"), time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))

	info, err := verify.Inspect(token) // decoded, NOT verified
	fmt.Println(info.Algorithm, info.KeyID, info.Type, info.IssuedAt.Format(time.RFC3339), info.BodySHA256, err)
	// Output:
	// ES256 kid-1 JWT 2025-06-01T12:00:00Z 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a <nil>
}
