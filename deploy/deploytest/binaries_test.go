package deploytest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	corev1 "k8s.io/api/core/v1"

	"github.com/plaidstream/plaidstream/internal/embednats"
)

// buildSpec is how the Dockerfile builds the binaries: environment
// assignments and the flags of its `go build` line.
type buildSpec struct {
	env   []string // e.g. CGO_ENABLED=0
	flags []string // e.g. -trimpath, -ldflags=-s -w
}

// goBuildLine finds the `go build` command in text (a Dockerfile RUN or a
// Makefile recipe, continuation lines joined) and splits it into
// assignments and the flags before -o.
func goBuildLine(text string) (buildSpec, error) {
	joined := strings.ReplaceAll(text, "\\\n", " ")
	var line string
	for _, l := range strings.Split(joined, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if strings.Contains(l, "go build") {
			if line != "" {
				return buildSpec{}, errors.New("more than one go build line")
			}
			line = l
		}
	}
	if line == "" {
		return buildSpec{}, errors.New("no go build line")
	}
	words, err := shellWords(line)
	if err != nil {
		return buildSpec{}, err
	}
	var spec buildSpec
	i := slices.Index(words, "go")
	if i < 0 || i+1 >= len(words) || words[i+1] != "build" {
		return buildSpec{}, fmt.Errorf("cannot read %q", line)
	}
	for _, w := range words[:i] {
		if k, _, ok := strings.Cut(w, "="); ok && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(k) && !strings.HasPrefix(k, "GOOS") && !strings.HasPrefix(k, "GOARCH") {
			spec.env = append(spec.env, w)
		}
	}
	for _, w := range words[i+2:] {
		if w == "-o" {
			break
		}
		spec.flags = append(spec.flags, w)
	}
	return spec, nil
}

// shellWords splits a command line on blanks, honouring double and single
// quotes (enough for a go build line).
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// normalizeFlags makes `-ldflags "-s -w"` and `-ldflags=-s -w` compare equal.
func normalizeFlags(flags []string) []string {
	var out []string
	for i := 0; i < len(flags); i++ {
		f := flags[i]
		if !strings.Contains(f, "=") && f == "-ldflags" && i+1 < len(flags) {
			f += "=" + flags[i+1]
			i++
		}
		out = append(out, f)
	}
	return out
}

func dockerfileBuild(t *testing.T) buildSpec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := goBuildLine(string(b))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return spec
}

// TestDockerfileBuildsStaticBinaries: the image's binaries are static and
// reproducible, and `make image-binaries` builds them the same way.
func TestDockerfileBuildsStaticBinaries(t *testing.T) {
	t.Parallel()
	docker := dockerfileBuild(t)
	if !slices.Contains(docker.env, "CGO_ENABLED=0") {
		t.Errorf("Dockerfile go build env %v: want CGO_ENABLED=0 (static binaries for distroless static)", docker.env)
	}
	for _, want := range []string{"-trimpath", "-ldflags=-s -w"} {
		if !slices.Contains(normalizeFlags(docker.flags), want) {
			t.Errorf("Dockerfile go build flags %q: want %s", docker.flags, want)
		}
	}
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	_, recipe, ok := strings.Cut(string(mk), "\nimage-binaries:")
	if !ok {
		t.Fatal("Makefile has no image-binaries target")
	}
	recipe, _, _ = strings.Cut(recipe, "\n\n")
	mk2, err := goBuildLine(recipe)
	if err != nil {
		t.Fatalf("Makefile image-binaries: %v", err)
	}
	if !slices.Equal(mk2.env, docker.env) || !slices.Equal(normalizeFlags(mk2.flags), normalizeFlags(docker.flags)) {
		t.Errorf("make image-binaries builds with %v %q, the Dockerfile with %v %q", mk2.env, mk2.flags, docker.env, docker.flags)
	}
	df, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM gcr.io/distroless/static", "USER 65532", "/usr/local/bin/"} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q (distroless static base, the nonroot user the chart expects, the binaries' path)", want)
		}
	}
}

// buildBinaries builds webhookd and fetcher with the Dockerfile's
// environment and flags into dir.
func buildBinaries(ctx context.Context, spec buildSpec, dir string) error {
	goBin, err := goTool()
	if err != nil {
		return err
	}
	args := append([]string{"build"}, spec.flags...)
	args = append(args, "-o", dir+string(filepath.Separator), "./cmd/webhookd", "./cmd/fetcher")
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), spec.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// fakeSecret is the Secret deploy/README.md tells users to create, with
// test values, under the chart's default key names.
func fakeSecret(t *testing.T) map[string]string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"plaid-client-id": "test_client_id",
		"plaid-secret":    "test_secret",
		"token-key":       base64.StdEncoding.EncodeToString(key),
		"admin-token":     "test-admin-token",
	}
}

// process is a running binary and its output so far.
type process struct {
	name  string
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   bytes.Buffer
	ready chan map[string]any // the log line with the bound addresses
	exit  chan error
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// containerProcess starts the container of Deployment comp the way the
// kubelet would, on this machine: the command's binary from binDir, its
// args, the environment from its ConfigMap and env (secretKeyRefs read
// from secret), and the Secret volume items written under a temporary
// root, with paths in the environment moved there. overrides replace
// settings that must differ here (listen addresses, NATS URL).
func containerProcess(t *testing.T, m *manifests, comp, binDir string, secret, overrides map[string]string) *process {
	t.Helper()
	d := m.deployment(t, comp)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	env := m.configEnv(t, c)
	secretName := ""
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secret[ref.Key]
			if !ok {
				t.Fatalf("env %s reads key %q, which the documented Secret does not have", e.Name, ref.Key)
			}
			secretName = ref.Name
			env[e.Name] = v
		default:
			t.Fatalf("env %s: unsupported source %+v", e.Name, e.ValueFrom)
		}
	}
	root := t.TempDir()
	for _, vm := range c.VolumeMounts {
		i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 || pod.Volumes[i].Secret == nil {
			t.Fatalf("volume mount %s: no Secret volume of that name", vm.Name)
		}
		sv := pod.Volumes[i].Secret
		if sv.SecretName != secretName {
			// Only the main Secret is mounted with the default values.
			t.Fatalf("volume %s mounts Secret %q, env reads Secret %q", vm.Name, sv.SecretName, secretName)
		}
		dir := filepath.Join(root, vm.MountPath)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, item := range sv.Items {
			v, ok := secret[item.Key]
			if !ok {
				t.Fatalf("volume %s mounts key %q, which the documented Secret does not have", vm.Name, item.Key)
			}
			if err := os.WriteFile(filepath.Join(dir, item.Path), []byte(v), 0o400); err != nil {
				t.Fatal(err)
			}
		}
		for k, v := range env {
			if strings.HasPrefix(v, vm.MountPath+"/") {
				env[k] = filepath.Join(root, v)
			}
		}
	}
	maps.Copy(env, overrides)
	var environ []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		environ = append(environ, k+"="+env[k])
	}

	p := &process{name: comp, ready: make(chan map[string]any, 1), exit: make(chan error, 1)}
	p.cmd = exec.Command(filepath.Join(binDir, filepath.Base(c.Command[0])), c.Args...)
	p.cmd.Env = environ // only the container's environment, nothing of ours
	p.cmd.SysProcAttr = dieWithParent()
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.out.Write(b)
	})
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.out.Write(line)
			p.out.WriteByte('\n')
			p.mu.Unlock()
			var rec map[string]any
			// The binaries log the addresses they bound once ready to
			// serve ("webhookd ready", "fetcher ready").
			if json.Unmarshal(line, &rec) == nil && rec["admin_addr"] != nil {
				select {
				case p.ready <- rec:
				default:
				}
			}
		}
	}()
	go func() {
		<-scanned // Wait must not close the pipe before it is read
		p.exit <- p.cmd.Wait()
	}()
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	t.Cleanup(func() { p.stop(t, grace) })
	return p
}

// httpClient bounds every request the tests send.
var httpClient = &http.Client{Timeout: 10 * time.Second}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// stop sends SIGTERM, as the kubelet does, and expects a clean exit within
// the pod's grace period; then it kills the process regardless.
func (p *process) stop(t *testing.T, grace time.Duration) {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-p.exit:
		if err != nil && !t.Failed() {
			t.Errorf("%s exited with %v after SIGTERM\n%s", p.name, err, p.output())
		}
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.exit
		t.Errorf("%s did not stop within the grace period %v after SIGTERM\n%s", p.name, grace, p.output())
	}
}

// waitReady waits for the binary's "ready" log line, then polls its
// /readyz until 200, all before deadline. It returns the ready line.
func (p *process) waitReady(t *testing.T, deadline time.Time) map[string]any {
	t.Helper()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var rec map[string]any
	select {
	case rec = <-p.ready:
	case err := <-p.exit:
		p.exit <- err // for stop
		t.Fatalf("%s exited before it was ready: %v\n%s", p.name, err, p.output())
	case <-timer.C:
		t.Fatalf("%s did not log that it is ready in time\n%s", p.name, p.output())
	}
	admin, _ := rec["admin_addr"].(string)
	if admin == "" {
		t.Fatalf("%s ready line has no admin_addr: %v", p.name, rec)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		status, _, err := get(t, "http://"+admin+"/readyz")
		if err == nil && status == http.StatusOK {
			return rec
		}
		select {
		case <-tick.C:
		case <-timer.C:
			t.Fatalf("%s /readyz: status %d, err %v at the deadline\n%s", p.name, status, err, p.output())
		}
	}
}

func get(t *testing.T, url string) (int, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// scrape reads a binary's /metrics.
func scrape(t *testing.T, adminAddr string) map[string]*dto.MetricFamily {
	t.Helper()
	status, body, err := get(t, "http://"+adminAddr+"/metrics")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /metrics on %s: %d %v", adminAddr, status, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics of %s: %v", adminAddr, err)
	}
	return families
}

// targetLabels are attached by Prometheus (service discovery), not by the
// binaries: queries may use them freely.
var targetLabels = []string{"namespace", "pod", "instance", "job", "service", "container", "endpoint"}

// exported is what the running binaries export: families, the label names
// of each, and every value seen per label name.
type exported struct {
	families    map[string]*dto.MetricFamily
	labelNames  map[string][]string
	labelValues map[string][]string
}

func newExported(scrapes ...map[string]*dto.MetricFamily) *exported {
	e := &exported{families: map[string]*dto.MetricFamily{}, labelNames: map[string][]string{}, labelValues: map[string][]string{}}
	for _, s := range scrapes {
		for name, f := range s {
			e.families[name] = f
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if !slices.Contains(e.labelNames[name], l.GetName()) {
						e.labelNames[name] = append(e.labelNames[name], l.GetName())
					}
					if !slices.Contains(e.labelValues[l.GetName()], l.GetValue()) {
						e.labelValues[l.GetName()] = append(e.labelValues[l.GetName()], l.GetValue())
					}
				}
			}
		}
	}
	return e
}

// resolve maps a series name to its family and the labels series of that
// name carry: histogram _bucket/_sum/_count (and summary _sum/_count) map
// to the base name; _bucket adds le.
func (e *exported) resolve(name string) (family string, labelNames []string, ok bool) {
	if _, ok := e.families[name]; ok {
		return name, e.labelNames[name], true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(name, suffix)
		if !found {
			continue
		}
		f, ok := e.families[base]
		if !ok {
			continue
		}
		switch {
		case f.GetType() == dto.MetricType_HISTOGRAM && suffix == "_bucket":
			return base, append(slices.Clone(e.labelNames[base]), "le"), true
		case f.GetType() == dto.MetricType_HISTOGRAM, f.GetType() == dto.MetricType_SUMMARY && suffix != "_bucket":
			return base, e.labelNames[base], true
		}
	}
	return "", nil, false
}

// plainAlternatives matches regex matcher values that are a list of
// literal label values, e.g. accepted|duplicate.
var plainAlternatives = regexp.MustCompile(`^[a-zA-Z0-9_]+(\|[a-zA-Z0-9_]+)*$`)

// TestMonitoringUsesExportedMetrics runs the binaries as the chart
// configures them and checks the dashboard and the rules against what they
// really export: every metric name, every label matched or grouped by, and
// every literal label value matched (against the values the binaries
// pre-create, which catches misspelled outcomes and reasons).
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	// Build while helm renders: both take a while when cold.
	binDir := t.TempDir()
	built := make(chan error, 1)
	spec := dockerfileBuild(t)
	go func() { built <- buildBinaries(ctx, spec, binDir) }()

	all := render(t, "all-features")
	defaults := render(t, "defaults")
	// The binaries run with the defaults plus the admin API token, so that
	// file's wiring is exercised too.
	out, err := helm(t, templateArgs(nil, "--set", "secrets.keys.adminToken=admin-token")...)
	if err != nil {
		t.Fatal(err)
	}
	runtime, err := decodeManifests(out)
	if err != nil {
		t.Fatal(err)
	}
	qs, varQs := dashboardQueries(t, dashboardOf(t, all))
	qs = slices.Concat(qs, varQs, ruleQueries(t, all))
	sels, groups := analyze(t, qs)

	if err := <-built; err != nil {
		t.Fatal(err)
	}
	checkEnvNamesKnown(t, binDir, defaults, all, runtime)

	ns, err := embednats.Start(embednats.Options{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)

	// The default values' configuration, but on loopback with free ports
	// (the binaries log the addresses they bound), against the embedded
	// server, with one stream replica, and with Plaid's host on an unused
	// loopback port (neither binary calls Plaid to start).
	secret := fakeSecret(t)
	common := map[string]string{
		"NATS_URL":       ns.ClientURL(),
		"PLAID_BASE_URL": "http://127.0.0.1:9",
	}
	deadline := time.Now().Add(time.Minute)
	webhookd := containerProcess(t, runtime, "webhookd", binDir, secret, merge(common, map[string]string{
		"WEBHOOKD_LISTEN":          "127.0.0.1:0",
		"WEBHOOKD_ADMIN_LISTEN":    "127.0.0.1:0",
		"WEBHOOKD_STREAM_REPLICAS": "1",
	}))
	wReady := webhookd.waitReady(t, deadline)
	// webhookd creates PLAID_WEBHOOKS first; the fetcher then finds it.
	fetcher := containerProcess(t, runtime, "fetcher", binDir, secret, merge(common, map[string]string{
		"FETCHER_ADMIN_LISTEN":    "127.0.0.1:0",
		"FETCHER_STREAM_REPLICAS": "1",
	}))
	fReady := fetcher.waitReady(t, deadline)

	// One unsigned webhook: 401, and webhookd_webhooks_total gets a series
	// (its label values exist only once a request was handled).
	webhookURL, _ := wReady["webhook_url"].(string)
	resp, err := httpClient.Post(webhookURL, "application/json", strings.NewReader(`{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned webhook: status %d, want 401", resp.StatusCode)
	}
	// The public listener serves the webhook only, never the admin endpoints.
	publicBase := strings.TrimSuffix(webhookURL, "/plaid/webhook")
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if status, _, err := get(t, publicBase+path); err != nil || status == http.StatusOK {
			t.Errorf("public listener GET %s: %d %v, want an error status", path, status, err)
		}
	}

	// The fetcher's /v1/ admin API takes the token from the mounted file
	// (and fetcher_admin_requests_total gets its series).
	fetcherAdmin := "http://" + fReady["admin_addr"].(string)
	for _, tc := range []struct {
		token string
		want  int
	}{
		{"", http.StatusUnauthorized},
		{"wrong", http.StatusUnauthorized},
		{secret["admin-token"], http.StatusOK},
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fetcherAdmin+"/v1/items", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /v1/items with token %q: status %d, want %d", tc.token, resp.StatusCode, tc.want)
		}
	}

	exp := newExported(scrape(t, wReady["admin_addr"].(string)), scrape(t, fReady["admin_addr"].(string)))

	used := map[string]bool{}
	for _, s := range sels {
		family, names, ok := exp.resolve(s.metric)
		if !ok {
			t.Errorf("%s: metric %s is not exported by webhookd or the fetcher", s.where, s.metric)
			continue
		}
		used[family] = true
		for _, m := range s.matchers {
			if m.Name == model.MetricNameLabel || slices.Contains(targetLabels, m.Name) {
				continue
			}
			if !slices.Contains(names, m.Name) {
				t.Errorf("%s: %s has no label %q (it has %v)", s.where, s.metric, m.Name, names)
				continue
			}
			var values []string
			switch {
			case m.Type == labels.MatchEqual || m.Type == labels.MatchNotEqual:
				values = []string{m.Value}
			case plainAlternatives.MatchString(m.Value):
				values = strings.Split(m.Value, "|")
			}
			for _, v := range values {
				if m.Name != "le" && !slices.Contains(exp.labelValues[m.Name], v) {
					t.Errorf("%s: %s=%q: no exported series has that %s (values: %v)", s.where, m.Name, v, m.Name, exp.labelValues[m.Name])
				}
			}
		}
	}
	for _, g := range groups {
		if slices.Contains(targetLabels, g.label) {
			continue
		}
		found := false
		for _, metric := range g.metrics {
			if _, names, ok := exp.resolve(metric); ok && slices.Contains(names, g.label) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: groups or matches by %q, which none of %v has", g.where, g.label, g.metrics)
		}
	}
	// The reverse: every metric of our own that the binaries export is on
	// the dashboard or in an alert.
	for name := range exp.families {
		if (strings.HasPrefix(name, "webhookd_") || strings.HasPrefix(name, "fetcher_")) && !used[name] {
			t.Errorf("metric %s is exported but neither the dashboard nor the rules use it", name)
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// goRuntimeEnv are read by the Go runtime, not our flags; extraEnv may set
// them.
var goRuntimeEnv = []string{"GOMEMLIMIT", "GOGC", "GOMAXPROCS", "GODEBUG", "GOTRACEBACK"}

// checkEnvNamesKnown: every environment variable the chart sets on a
// container is one its binary documents in --help, so a misspelled setting
// cannot be silently ignored.
func checkEnvNamesKnown(t *testing.T, binDir string, renders ...*manifests) {
	t.Helper()
	envName := regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b`)
	for _, comp := range []string{"webhookd", "fetcher"} {
		cmd := exec.Command(filepath.Join(binDir, comp), "--help")
		cmd.Env = []string{}
		out, _ := cmd.CombinedOutput() // --help exits 0 or 2 by convention; the text is what matters
		known := envName.FindAllString(string(out), -1)
		if len(known) < 10 {
			t.Fatalf("%s --help names only %v", comp, known)
		}
		for _, m := range renders {
			c := m.deployment(t, comp).Spec.Template.Spec.Containers[0]
			names := slices.Collect(maps.Keys(m.configEnv(t, c)))
			for _, e := range c.Env {
				names = append(names, e.Name)
			}
			for _, name := range names {
				if !slices.Contains(known, name) && !slices.Contains(goRuntimeEnv, name) {
					t.Errorf("the chart sets %s on %s, which %s --help does not know", name, comp, comp)
				}
			}
		}
	}
}
