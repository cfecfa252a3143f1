// Package e2e tests plaidstream as it runs in production: separate
// processes talking over loopback, built from this repository and the
// nats-server module in go.mod. Only Plaid is simulated (cmd/plaidsim).
// The package has no code of its own; the tests are in e2e_test.
//
// The scenario (TestPipelineEndToEnd; seeded, -seed=N to replay one):
//
//  1. Build nats-server, plaidsim, webhookd, fetcher and the example
//     consumer (examples/consumer) once per package run, CGO_ENABLED=0
//     -trimpath, and start them: nats-server with JetStream on a file
//     store, plaidsim (webhook retries sped up by --time-factor), webhookd,
//     two fetcher replicas and the consumer. Addresses are bound to
//     loopback port 0 and read back from each program's "ready" log line.
//  2. Create items in plaidsim whose webhook URL is webhookd (one through a
//     proxy that sends every signed request to webhookd twice, as a
//     retrying load balancer would), a processor token on one of them, and
//     register them through the fetcher's admin API. One item is large
//     enough that its sync takes several pages, and plaidsim changes its
//     data between pages.
//  3. Drive seeded changes through plaidsim's /sim/ API — storms of adds,
//     modifies, removes and pending posts, single changes, recurring
//     streams — each of which makes plaidsim fire signed webhooks; inject
//     429s and 500s; fire duplicate notifications.
//  4. Chaos: kill -9 the fetcher holding an item's sync lease while its
//     Plaid call is held open, and restart it; kill -9 the consumer and
//     restart it; stop nats-server (SIGTERM) while changes keep coming
//     (webhookd answers 503, plaidsim retries later) and restart it on the
//     same port and store directory; resync one item (its replay again
//     meets a mutation during pagination); remove another.
//  5. Converge, then check: the consumer's store equals plaidsim's ground
//     truth for every owner (every transaction, normalized exactly as the
//     fetcher normalizes it, and the recurring streams announced), without
//     gaps or incomplete updates, and the removed item is gone; every
//     webhook attempt webhookd answered 200 is stored in PLAID_WEBHOOKS;
//     every webhook was eventually delivered.
//
// The fetchers run with FETCHER_LEASE_TTL and FETCHER_ACK_WAIT of 3 s so a
// killed replica's item is picked up within seconds; recovery on the 60 s
// production defaults is proven in-process by
// internal/fetchjs.TestKilledReplicaIsReplaced.
//
// TestSoak repeats steps 3 to 5 until its time is up:
//
//	go test ./e2e -run Soak -soak=5m -v
//
// Both tests are skipped with -short. On failure the seed and the tail of
// every process's log are printed.
package e2e
