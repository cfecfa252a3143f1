// Command fetcher will consume PLAID_WEBHOOKS, sync each item's transactions
// from Plaid and publish normalized CloudEvents to PLAID_EVENTS. It is not
// implemented yet; see the project's issues.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "fetcher: not implemented yet (webhookd stores verified webhooks in PLAID_WEBHOOKS; the fetcher that consumes them comes next)")
	os.Exit(1)
}
