package deploytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	// helmModule is helm, built from its Go module (no helm binary needed).
	helmModule = "helm.sh/helm/v3/cmd/helm@v3.22.0"
	// kubeVersion is passed to helm: without a cluster, helm built by go run
	// reports Kubernetes 1.20, below the chart's kubeVersion.
	kubeVersion = "1.31.0"
	// releaseName and releaseNamespace name the rendered test release.
	releaseName      = "plaidstream"
	releaseNamespace = "payments"
	// allFeaturesValues turns every optional feature on.
	allFeaturesValues = "ci/all-features-values.yaml"
)

// repoRoot and chartDir are absolute; tests run in deploy/deploytest.
var (
	repoRoot = mustAbs("../..")
	chartDir = filepath.Join(repoRoot, "deploy", "helm", "plaidstream")
	// helmHome isolates helm's cache, config and data directories.
	helmHome string
)

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploytest-helm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	helmHome = dir
	code := m.Run()
	_ = os.RemoveAll(dir) // a temporary directory; nothing to do if it stays
	os.Exit(code)
}

// goTool is the go command the tests use to build helm and the binaries.
var goTool = sync.OnceValues(func() (string, error) {
	return exec.LookPath("go")
})

// helmBuilt builds helm once (about a minute cold, then cached by go run),
// so parallel tests do not all compile it at the same time.
var helmBuilt = sync.OnceValue(func() error {
	_, err := runHelm("version", "--short")
	return err
})

// runHelm runs helm with args and returns its standard output; the error
// carries standard error.
func runHelm(args ...string) (string, error) {
	goBin, err := goTool()
	if err != nil {
		return "", fmt.Errorf("go command: %w", err)
	}
	// The first run compiles helm: allow for a slow, cold machine.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, append([]string{"run", helmModule}, args...)...)
	cmd.Dir = chartDir
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// helm runs helm for a test, after the one-time build.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if err := helmBuilt(); err != nil {
		t.Fatalf("build helm: %v", err)
	}
	return runHelm(args...)
}

// templateArgs are the arguments of `helm template` for the test release
// with the given values files (relative to the chart) and extra arguments.
func templateArgs(valuesFiles []string, extra ...string) []string {
	args := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace, "--kube-version", kubeVersion}
	for _, f := range valuesFiles {
		args = append(args, "--values", filepath.Join(chartDir, f))
	}
	return append(args, extra...)
}

// valueSets are the values the chart is linted and rendered with.
var valueSets = []struct {
	name  string
	files []string
}{
	{"defaults", nil},
	{"all-features", []string{allFeaturesValues}},
}

// renders caches `helm template` per value set: several tests read them.
var (
	rendersMu sync.Mutex
	renders   = map[string]func() (*manifests, error){}
)

// render returns the decoded manifests of a value set, rendering once.
func render(t *testing.T, valueSet string) *manifests {
	t.Helper()
	if err := helmBuilt(); err != nil {
		t.Fatalf("build helm: %v", err)
	}
	rendersMu.Lock()
	f, ok := renders[valueSet]
	if !ok {
		var files []string
		found := false
		for _, vs := range valueSets {
			if vs.name == valueSet {
				files, found = vs.files, true
			}
		}
		if !found {
			rendersMu.Unlock()
			t.Fatalf("unknown value set %q", valueSet)
		}
		f = sync.OnceValues(func() (*manifests, error) {
			out, err := runHelm(templateArgs(files)...)
			if err != nil {
				return nil, err
			}
			return decodeManifests(out)
		})
		renders[valueSet] = f
	}
	rendersMu.Unlock()
	m, err := f()
	if err != nil {
		t.Fatalf("render %s: %v", valueSet, err)
	}
	return m
}

// manifests are the rendered documents, decoded strictly by kind.
type manifests struct {
	Deployments     []*appsv1.Deployment
	Services        []*corev1.Service
	ConfigMaps      []*corev1.ConfigMap
	ServiceAccounts []*corev1.ServiceAccount
	Ingresses       []*networkingv1.Ingress
	NetworkPolicies []*networkingv1.NetworkPolicy
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	PDBs            []*policyv1.PodDisruptionBudget
	ServiceMonitors []*serviceMonitor
	PrometheusRules []*prometheusRule
	// Kinds counts documents by kind.
	Kinds map[string]int
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeManifests splits helm's output into documents and decodes each
// strictly into its type: an unknown field, a duplicate key, a wrong type
// or an unexpected kind is an error naming the template.
func decodeManifests(out string) (*manifests, error) {
	m := &manifests{Kinds: map[string]int{}}
	var errs []error
	for _, doc := range docSeparator.Split(out, -1) {
		source := "?"
		empty := true
		for _, line := range strings.Split(doc, "\n") {
			trimmed := strings.TrimSpace(line)
			if s, ok := strings.CutPrefix(trimmed, "# Source: "); ok {
				source = s
			}
			if trimmed != "" && !strings.HasPrefix(trimmed, "#") {
				empty = false
			}
		}
		if empty {
			continue
		}
		if err := m.add([]byte(doc)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
		}
	}
	return m, errors.Join(errs...)
}

func (m *manifests) add(doc []byte) error {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	key := tm.APIVersion + " " + tm.Kind
	m.Kinds[tm.Kind]++
	switch key {
	case "apps/v1 Deployment":
		return decodeInto(doc, &m.Deployments)
	case "v1 Service":
		return decodeInto(doc, &m.Services)
	case "v1 ConfigMap":
		return decodeInto(doc, &m.ConfigMaps)
	case "v1 ServiceAccount":
		return decodeInto(doc, &m.ServiceAccounts)
	case "networking.k8s.io/v1 Ingress":
		return decodeInto(doc, &m.Ingresses)
	case "networking.k8s.io/v1 NetworkPolicy":
		return decodeInto(doc, &m.NetworkPolicies)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return decodeInto(doc, &m.HPAs)
	case "policy/v1 PodDisruptionBudget":
		return decodeInto(doc, &m.PDBs)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return decodeInto(doc, &m.ServiceMonitors)
	case "monitoring.coreos.com/v1 PrometheusRule":
		return decodeInto(doc, &m.PrometheusRules)
	}
	return fmt.Errorf("unexpected kind %q: add a strict decoder for it", key)
}

// decodeInto decodes doc strictly (unknown fields, duplicate keys and type
// errors fail) and appends it to list.
func decodeInto[T any](doc []byte, list *[]*T) error {
	v := new(T)
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

// The Prometheus Operator's types (monitoring.coreos.com/v1) are not in
// k8s.io/api. These mirror the fields of its ServiceMonitor and
// PrometheusRule that a chart may set (pkg/apis/monitoring/v1), with the same
// JSON names, so strict decoding rejects anything else.

type serviceMonitor struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Metadata   metav1.ObjectMeta  `json:"metadata"`
	Spec       serviceMonitorSpec `json:"spec"`
}

type serviceMonitorSpec struct {
	JobLabel          string               `json:"jobLabel,omitempty"`
	TargetLabels      []string             `json:"targetLabels,omitempty"`
	PodTargetLabels   []string             `json:"podTargetLabels,omitempty"`
	Endpoints         []endpoint           `json:"endpoints"`
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector struct {
		Any        bool     `json:"any,omitempty"`
		MatchNames []string `json:"matchNames,omitempty"`
	} `json:"namespaceSelector,omitempty"`
	SampleLimit *uint64 `json:"sampleLimit,omitempty"`
	TargetLimit *uint64 `json:"targetLimit,omitempty"`
}

type endpoint struct {
	Port              string          `json:"port,omitempty"`
	Path              string          `json:"path,omitempty"`
	Scheme            string          `json:"scheme,omitempty"`
	Interval          string          `json:"interval,omitempty"`
	ScrapeTimeout     string          `json:"scrapeTimeout,omitempty"`
	HonorLabels       bool            `json:"honorLabels,omitempty"`
	HonorTimestamps   *bool           `json:"honorTimestamps,omitempty"`
	Relabelings       []relabelConfig `json:"relabelings,omitempty"`
	MetricRelabelings []relabelConfig `json:"metricRelabelings,omitempty"`
}

type relabelConfig struct {
	SourceLabels []string `json:"sourceLabels,omitempty"`
	Separator    *string  `json:"separator,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Modulus      uint64   `json:"modulus,omitempty"`
	Replacement  *string  `json:"replacement,omitempty"`
	Action       string   `json:"action,omitempty"`
}

type prometheusRule struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Groups []ruleGroup `json:"groups,omitempty"`
	} `json:"spec"`
}

// ruleGroup and rule use Prometheus' rule file names, as the operator does.
type ruleGroup struct {
	Name                    string            `json:"name"`
	Interval                string            `json:"interval,omitempty"`
	QueryOffset             string            `json:"query_offset,omitempty"`
	Rules                   []rule            `json:"rules,omitempty"`
	PartialResponseStrategy string            `json:"partial_response_strategy,omitempty"`
	Limit                   *int              `json:"limit,omitempty"`
	Labels                  map[string]string `json:"labels,omitempty"`
}

type rule struct {
	Record        string            `json:"record,omitempty"`
	Alert         string            `json:"alert,omitempty"`
	Expr          string            `json:"expr"`
	For           string            `json:"for,omitempty"`
	KeepFiringFor string            `json:"keep_firing_for,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Lookups over the rendered manifests.

// component is the app.kubernetes.io/component label of an object.
func component(meta metav1.ObjectMeta) string {
	return meta.Labels["app.kubernetes.io/component"]
}

func (m *manifests) deployment(t *testing.T, comp string) *appsv1.Deployment {
	t.Helper()
	for _, d := range m.Deployments {
		if component(d.ObjectMeta) == comp {
			return d
		}
	}
	t.Fatalf("no Deployment with component %q", comp)
	return nil
}

func (m *manifests) configMap(name string) *corev1.ConfigMap {
	for _, c := range m.ConfigMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (m *manifests) service(name string) *corev1.Service {
	for _, s := range m.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// configEnv is a container's environment from its envFrom ConfigMaps (the
// non-secret settings).
func (m *manifests) configEnv(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Fatalf("container %s: envFrom other than a ConfigMap: %+v", c.Name, from)
		}
		cm := m.configMap(from.ConfigMapRef.Name)
		if cm == nil {
			t.Fatalf("container %s: envFrom ConfigMap %q is not rendered", c.Name, from.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	return env
}

// selects reports whether selector labels all appear in labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
