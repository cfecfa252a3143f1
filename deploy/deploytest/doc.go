// Package deploytest validates what we ship for Kubernetes: the Helm chart in
// deploy/helm/plaidstream, its Grafana dashboard and Prometheus alerts, and
// the Dockerfile's build. It has no code of its own; its tests check:
//
//   - `helm lint --strict` and `helm template` succeed on the default values
//     and on ci/all-features-values.yaml (helm built from its Go module with
//     `go run helm.sh/helm/v3/cmd/helm@v3.22.0`), and fail on values that
//     must be refused (a grace period below the shutdown budget, unknown
//     keys, conflicting NATS credentials);
//   - every rendered document decodes strictly (unknown fields fail) into
//     its k8s.io/api type, or into local structs mirroring the Prometheus
//     Operator's ServiceMonitor and PrometheusRule;
//   - the chart's invariants: hardened securityContexts, probes on the admin
//     port, the admin port never in the public Service or the Ingress,
//     secrets only by reference, webhookd without the token key, grace
//     periods above the in-app shutdown budgets, selectors that match;
//   - the PrometheusRule's groups load with Prometheus' rule file format
//     (model/rulefmt), and every PromQL expression of the rules and the
//     dashboard parses (promql/parser);
//   - every metric those expressions use, and every label they match or
//     group by, is exported by the real binaries: the test builds webhookd
//     and fetcher with the Dockerfile's `go build` flags (Docker is not
//     available to CI), runs them against an embedded NATS JetStream server
//     with the environment and secret files the chart gives their
//     containers, waits for /readyz and reads their /metrics;
//   - every environment variable the chart sets is one the binaries know
//     (from their --help), and the Makefile's image-binaries target uses the
//     Dockerfile's flags.
package deploytest
