package deploytest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/prometheus/common/model"
)

func TestChartLint(t *testing.T) {
	t.Parallel()
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"lint", "--strict", chartDir, "--namespace", releaseNamespace, "--kube-version", kubeVersion}
			for _, f := range vs.files {
				args = append(args, "--values", f)
			}
			if _, err := helm(t, args...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestChartKinds: each value set renders exactly the objects it should; an
// optional feature that silently renders nothing fails here.
func TestChartKinds(t *testing.T) {
	t.Parallel()
	want := map[string]map[string]int{
		"defaults": {
			"Deployment": 2, "Service": 3, "ConfigMap": 2, "ServiceAccount": 1, "PodDisruptionBudget": 2,
		},
		"all-features": {
			"Deployment": 2, "Service": 3, "ConfigMap": 3, "ServiceAccount": 1, "PodDisruptionBudget": 2,
			"HorizontalPodAutoscaler": 2, "Ingress": 1, "NetworkPolicy": 2, "ServiceMonitor": 2, "PrometheusRule": 1,
		},
	}
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			m := render(t, vs.name)
			if !maps.Equal(m.Kinds, want[vs.name]) {
				t.Errorf("rendered kinds %v, want %v", m.Kinds, want[vs.name])
			}
		})
	}
}

// secretEnvNames must only ever come from a Secret (by reference or as a
// mounted file), never from a value in the chart.
var secretEnvNames = []string{"PLAID_CLIENT_ID", "PLAID_SECRET", "PLAIDSTREAM_TOKEN_KEY", "PLAIDSTREAM_TOKEN_KEYS", "FETCHER_ADMIN_TOKEN"}

func TestChartDeployments(t *testing.T) {
	t.Parallel()
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			m := render(t, vs.name)
			for _, comp := range []string{"webhookd", "fetcher"} {
				t.Run(comp, func(t *testing.T) {
					checkDeployment(t, m, m.deployment(t, comp))
				})
			}
		})
	}
}

func checkDeployment(t *testing.T, m *manifests, d *appsv1.Deployment) {
	comp := component(d.ObjectMeta)
	pod := d.Spec.Template.Spec
	if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("selector %v does not select the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	hpa := false
	for _, h := range m.HPAs {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name {
			hpa = true
		}
	}
	switch {
	case hpa && d.Spec.Replicas != nil:
		t.Errorf("replicas %d set although an HPA scales the Deployment (each upgrade would reset it)", *d.Spec.Replicas)
	case !hpa && (d.Spec.Replicas == nil || *d.Spec.Replicas < 2):
		t.Errorf("replicas %v, want at least 2", d.Spec.Replicas)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken is not false: neither binary calls the Kubernetes API")
	}
	if sum := d.Spec.Template.Annotations["checksum/config"]; !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(sum) {
		t.Errorf("checksum/config annotation %q: want the ConfigMap's sha256, so config changes roll the pods", sum)
	}
	if pod.Affinity == nil && len(pod.TopologySpreadConstraints) == 0 {
		t.Errorf("neither affinity nor topology spread constraints: replicas may share a node")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if want := "/usr/local/bin/" + comp; len(c.Command) != 1 || c.Command[0] != want {
		t.Errorf("command %q, want [%s] (the image's binary)", c.Command, want)
	}

	checkSecurity(t, pod, c)

	env := m.configEnv(t, c)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	adminEnv := map[string]string{"webhookd": "WEBHOOKD_ADMIN_LISTEN", "fetcher": "FETCHER_ADMIN_LISTEN"}[comp]
	if got, want := env[adminEnv], fmt.Sprintf(":%d", ports["admin"]); got != want {
		t.Errorf("%s=%q, but the container port named admin is %d", adminEnv, got, ports["admin"])
	}
	if comp == "webhookd" {
		if got, want := env["WEBHOOKD_LISTEN"], fmt.Sprintf(":%d", ports["http"]); got != want {
			t.Errorf("WEBHOOKD_LISTEN=%q, but the container port named http is %d", got, ports["http"])
		}
	}

	// Probes: on the admin port, liveness and startup on /healthz,
	// readiness on /readyz.
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"startup", c.StartupProbe, "/healthz"},
		{"liveness", c.LivenessProbe, "/healthz"},
		{"readiness", c.ReadinessProbe, "/readyz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: missing or not HTTP", p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || !portIs(g.Port, "admin", ports["admin"]) {
			t.Errorf("%s probe: %s on port %s, want %s on the admin port", p.name, g.Path, g.Port.String(), p.path)
		}
	}

	if r := c.Resources; r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want CPU and memory requests and a memory limit", r)
	}

	// The grace period must exceed what the binary may take after SIGTERM
	// (and a preStop sleep before it): internal/app/webhookd/app.go Run keeps
	// serving for the delay, then shares the shutdown timeout between the
	// requests and the NATS drain; internal/app/fetcher/app.go gives syncs the
	// shutdown timeout, then drainTimeout (10 s).
	budget := durationEnv(t, env, map[string]string{"webhookd": "WEBHOOKD_SHUTDOWN_TIMEOUT", "fetcher": "FETCHER_SHUTDOWN_TIMEOUT"}[comp])
	if comp == "webhookd" {
		budget += durationEnv(t, env, "WEBHOOKD_SHUTDOWN_DELAY")
	} else {
		budget += 10 * time.Second
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Sleep == nil {
			t.Errorf("preStop %+v: only the kubelet's sleep works (the image has no shell)", c.Lifecycle.PreStop)
		} else {
			budget += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= budget {
		t.Errorf("terminationGracePeriodSeconds %s, want above the shutdown budget %v", fmtPtr(g), budget)
	}

	// Secrets: only by reference; webhookd never gets the token key.
	for _, name := range secretEnvNames {
		if _, ok := env[name]; ok {
			t.Errorf("ConfigMap sets secret %s", name)
		}
	}
	for _, e := range c.Env {
		if slices.Contains(secretEnvNames, e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("env %s is not a secretKeyRef", e.Name)
		}
		if comp == "webhookd" && strings.HasPrefix(e.Name, "PLAIDSTREAM_TOKEN_KEY") {
			t.Errorf("webhookd gets %s; only the fetcher needs the token key", e.Name)
		}
		if strings.HasSuffix(e.Name, "_FILE") || e.Name == "NATS_CREDS" || strings.HasPrefix(e.Name, "NATS_TLS_") {
			if !mountedFile(pod, c, e.Value) {
				t.Errorf("env %s=%q: no Secret volume mounts that file", e.Name, e.Value)
			}
		}
	}
	if comp == "webhookd" {
		for _, v := range pod.Volumes {
			if v.Secret == nil {
				continue
			}
			for _, item := range v.Secret.Items {
				if strings.HasPrefix(item.Path, "token-key") || strings.HasPrefix(item.Path, "admin-token") {
					t.Errorf("webhookd mounts %s from Secret %s", item.Path, v.Secret.SecretName)
				}
			}
		}
	}
	for _, v := range pod.Volumes {
		if v.Secret == nil {
			continue
		}
		if v.Secret.SecretName == "" || len(v.Secret.Items) == 0 {
			t.Errorf("volume %s: Secret %q with items %v: want a name and only the keys this binary needs", v.Name, v.Secret.SecretName, v.Secret.Items)
		}
		if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o007 != 0 {
			t.Errorf("volume %s: secret files readable by others (mode %s)", v.Name, fmtPtr(v.Secret.DefaultMode))
		}
		paths := map[string]bool{}
		for _, item := range v.Secret.Items {
			if item.Key == "" || item.Path == "" || paths[item.Path] {
				t.Errorf("volume %s: item %+v: empty key or path, or a repeated path", v.Name, item)
			}
			paths[item.Path] = true
		}
	}
}

func checkSecurity(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatalf("pod or container securityContext missing")
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	if !isTrue(psc.RunAsNonRoot) && !isTrue(sc.RunAsNonRoot) {
		t.Errorf("runAsNonRoot is not set")
	}
	if uid := sc.RunAsUser; uid == nil || *uid == 0 {
		if uid = psc.RunAsUser; uid == nil || *uid == 0 {
			t.Errorf("no non-zero runAsUser")
		}
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		t.Errorf("privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities %+v: want drop ALL, add none", sc.Capabilities)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile %+v, want RuntimeDefault", seccomp)
	}
}

// portIs reports whether a probe or backend port refers to the named
// container port, by name or number.
func portIs(p intstr.IntOrString, name string, number int32) bool {
	if p.Type == intstr.String {
		return p.StrVal == name
	}
	return p.IntVal == number
}

// mountedFile reports whether path is a file a Secret volume projects into
// the container.
func mountedFile(pod corev1.PodSpec, c corev1.Container, path string) bool {
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != vm.Name || v.Secret == nil {
				continue
			}
			for _, item := range v.Secret.Items {
				if path == vm.MountPath+"/"+item.Path {
					return true
				}
			}
		}
	}
	return false
}

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func durationEnv(t *testing.T, env map[string]string, name string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(env[name])
	if err != nil {
		t.Fatalf("%s=%q: %v", name, env[name], err)
	}
	return d
}

// TestChartNetworkExposure: the admin listeners are reachable only inside
// the cluster and never through the public Service or the Ingress.
func TestChartNetworkExposure(t *testing.T) {
	t.Parallel()
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			m := render(t, vs.name)
			webhookd := m.deployment(t, "webhookd")
			adminPorts := map[string]int32{}
			for _, d := range m.Deployments {
				for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
					if p.Name == "admin" {
						adminPorts[component(d.ObjectMeta)] = p.ContainerPort
					}
				}
			}
			public := m.service(webhookd.Name)
			if public == nil {
				t.Fatalf("no public Service %s", webhookd.Name)
			}
			for _, s := range m.Services {
				matches := 0
				for _, d := range m.Deployments {
					if selects(s.Spec.Selector, d.Spec.Template.Labels) {
						matches++
					}
				}
				if matches != 1 {
					t.Errorf("Service %s selects %d Deployments, want 1", s.Name, matches)
				}
				for _, p := range s.Spec.Ports {
					admin := portIs(p.TargetPort, "admin", adminPorts[component(s.ObjectMeta)])
					if s == public && admin {
						t.Errorf("public Service %s exposes the admin port (%s)", s.Name, p.Name)
					}
					if admin && s.Spec.Type != corev1.ServiceTypeClusterIP {
						t.Errorf("Service %s of type %s exposes an admin port", s.Name, s.Spec.Type)
					}
				}
			}
			for _, ing := range m.Ingresses {
				for _, r := range ing.Spec.Rules {
					for _, p := range r.HTTP.Paths {
						b := p.Backend.Service
						if p.Path != "/plaid/webhook" || b == nil || b.Name != public.Name {
							t.Errorf("Ingress %s routes %q to %+v; only /plaid/webhook to %s is allowed", ing.Name, p.Path, b, public.Name)
							continue
						}
						i := slices.IndexFunc(public.Spec.Ports, func(sp corev1.ServicePort) bool {
							return (b.Port.Name != "" && b.Port.Name == sp.Name) || (b.Port.Number != 0 && b.Port.Number == sp.Port)
						})
						switch {
						case i < 0:
							t.Errorf("Ingress %s backend port %+v is not a port of Service %s", ing.Name, b.Port, public.Name)
						case !portIs(public.Spec.Ports[i].TargetPort, "http", -1):
							t.Errorf("Ingress %s backend port %+v targets %s, want http", ing.Name, b.Port, public.Spec.Ports[i].TargetPort.String())
						}
					}
				}
			}
			for _, np := range m.NetworkPolicies {
				selected := 0
				for _, d := range m.Deployments {
					if selects(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
						selected++
					}
				}
				if selected != 1 {
					t.Errorf("NetworkPolicy %s selects %d Deployments, want 1", np.Name, selected)
				}
				for _, rule := range np.Spec.Ingress {
					for _, p := range rule.Ports {
						if p.Port != nil && portIs(*p.Port, "admin", -1) && len(rule.From) == 0 {
							t.Errorf("NetworkPolicy %s opens the admin port to every source", np.Name)
						}
					}
				}
				var egressPorts []int32
				for _, rule := range np.Spec.Egress {
					for _, p := range rule.Ports {
						egressPorts = append(egressPorts, p.Port.IntVal)
					}
				}
				for _, want := range []int32{53, 4222, 443} {
					if !slices.Contains(egressPorts, want) {
						t.Errorf("NetworkPolicy %s: no egress to port %d (DNS, NATS, Plaid need it)", np.Name, want)
					}
				}
			}
			for _, pdb := range m.PDBs {
				selected := 0
				for _, d := range m.Deployments {
					if selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
						selected++
					}
				}
				if selected != 1 || pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
					t.Errorf("PDB %s selects %d Deployments with minAvailable %v, want 1 and 1", pdb.Name, selected, pdb.Spec.MinAvailable)
				}
			}
			for _, h := range m.HPAs {
				if h.Spec.ScaleTargetRef.Kind != "Deployment" || !slices.ContainsFunc(m.Deployments, func(d *appsv1.Deployment) bool { return d.Name == h.Spec.ScaleTargetRef.Name }) {
					t.Errorf("HPA %s scales %+v, which is not rendered", h.Name, h.Spec.ScaleTargetRef)
				}
				if len(h.Spec.Metrics) == 0 || h.Spec.Metrics[0].Resource == nil || h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
					t.Errorf("HPA %s does not scale on CPU: %+v", h.Name, h.Spec.Metrics)
				}
			}
			for _, sm := range m.ServiceMonitors {
				var matched []*corev1.Service
				for _, s := range m.Services {
					if selects(sm.Spec.Selector.MatchLabels, s.Labels) {
						matched = append(matched, s)
					}
				}
				if len(matched) != 1 {
					t.Errorf("ServiceMonitor %s selects %d Services, want 1 (the admin Service)", sm.Name(), len(matched))
					continue
				}
				if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{releaseNamespace}) {
					t.Errorf("ServiceMonitor %s namespaceSelector %v, want [%s]", sm.Name(), sm.Spec.NamespaceSelector.MatchNames, releaseNamespace)
				}
				for _, ep := range sm.Spec.Endpoints {
					if !slices.ContainsFunc(matched[0].Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port && p.Name == "admin" }) {
						t.Errorf("ServiceMonitor %s endpoint port %q is not the admin port of Service %s", sm.Name(), ep.Port, matched[0].Name)
					}
					for _, d := range []string{ep.Interval, ep.ScrapeTimeout} {
						if _, err := model.ParseDuration(d); err != nil {
							t.Errorf("ServiceMonitor %s: duration %q: %v", sm.Name(), d, err)
						}
					}
					for _, rc := range slices.Concat(ep.Relabelings, ep.MetricRelabelings) {
						if _, err := regexp.Compile(rc.Regex); err != nil {
							t.Errorf("ServiceMonitor %s: relabel regex %q: %v", sm.Name(), rc.Regex, err)
						}
						if !validRelabelActions[strings.ToLower(rc.Action)] {
							t.Errorf("ServiceMonitor %s: relabel action %q", sm.Name(), rc.Action)
						}
					}
				}
			}
		})
	}
}

func (s *serviceMonitor) Name() string { return s.Metadata.Name }

// validRelabelActions are the operator's (case-insensitive) actions; empty
// means replace.
var validRelabelActions = map[string]bool{
	"": true, "replace": true, "keep": true, "drop": true, "hashmod": true, "labelmap": true, "labeldrop": true,
	"labelkeep": true, "lowercase": true, "uppercase": true, "keepequal": true, "dropequal": true,
}

// TestChartComputedSettings: settings the chart derives from others.
func TestChartComputedSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		set  []string
		want map[string]string
	}{
		{"defaults split the Plaid budget over 2 replicas", nil,
			map[string]string{"FETCHER_PLAID_RATE": "20.00", "FETCHER_MAX_ACK_PENDING": "1000", "FETCHER_STREAM_REPLICAS": "3"}},
		{"autoscaling sizes by maxReplicas", []string{"fetcher.autoscaling.enabled=true", "fetcher.autoscaling.maxReplicas=6", "fetcher.config.workers=3"},
			map[string]string{"FETCHER_PLAID_RATE": "6.66", "FETCHER_WORKERS": "3"}},
		{"explicit values win", []string{"fetcher.config.plaidRate=12.5", "fetcher.config.maxAckPending=40", "nats.streamReplicas=1"},
			map[string]string{"FETCHER_PLAID_RATE": "12.5", "FETCHER_MAX_ACK_PENDING": "40", "FETCHER_STREAM_REPLICAS": "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var extra []string
			for _, s := range tc.set {
				extra = append(extra, "--set", s)
			}
			out, err := helm(t, templateArgs(nil, extra...)...)
			if err != nil {
				t.Fatal(err)
			}
			m, err := decodeManifests(out)
			if err != nil {
				t.Fatal(err)
			}
			env := m.configEnv(t, m.deployment(t, "fetcher").Spec.Template.Spec.Containers[0])
			for k, want := range tc.want {
				if env[k] != want {
					t.Errorf("%s=%q, want %q", k, env[k], want)
				}
			}
		})
	}
}

// TestChartRefusesBadValues: values that would deploy something broken fail
// at install time with a message saying why.
func TestChartRefusesBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		set     []string
		wantErr string
	}{
		{"grace period at the shutdown budget", []string{"webhookd.terminationGracePeriodSeconds=25"}, "must be above the in-app shutdown budget"},
		{"fetcher grace period below its drain", []string{"fetcher.terminationGracePeriodSeconds=25"}, "must be above the in-app shutdown budget"},
		{"unknown setting", []string{"webhookd.config.publishTimeoutt=3s"}, "additional properties"},
		{"duration without unit", []string{"fetcher.config.ackWait=30"}, "/fetcher/config/ackWait"},
		{"creds and nkey", []string{"nats.auth.credsKey=creds", "nats.auth.nkeySeedKey=seed"}, "not both"},
		{"tls without a secret", []string{"nats.tls.enabled=true"}, "nats.tls.existingSecret is required"},
		{"no plaid secret key", []string{"secrets.keys.plaidSecret="}, "plaidSecret"},
		{"unknown plaid environment", []string{"plaid.env=development"}, "/plaid/env"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var extra []string
			for _, s := range tc.set {
				extra = append(extra, "--set", s)
			}
			_, err := helm(t, templateArgs(nil, extra...)...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("helm template --set %v: error %v, want one containing %q", tc.set, err, tc.wantErr)
			}
		})
	}
}

// TestChartNotes: what `helm install` prints. NOTES.txt is not part of
// `helm template`'s output, so a copy of the chart renders it into a
// ConfigMap.
func TestChartNotes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	probe := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n    {{- include (print $.Template.BasePath \"/NOTES.txt\") . | nindent 4 }}\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "zz-notes-probe.yaml"), []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		valueSet string
		files    []string
		want     []string
	}{
		{"defaults", nil, []string{
			"kubectl -n payments port-forward service/plaidstream-webhookd",
			"create secret generic plaidstream \\",
			`--from-literal=plaid-client-id="$PLAID_CLIENT_ID"`,
			`--from-literal=plaid-secret="$PLAID_SECRET"`,
			`--from-literal=token-key="$(openssl rand -base64 32)"`,
			"rollout status deployment/plaidstream-fetcher",
			"The /v1/ admin API is off",
		}},
		{"all-features", []string{allFeaturesValues}, []string{
			"https://plaid-webhooks.example.com/plaid/webhook",
			"create secret generic plaidstream-prod \\",
			`--from-literal=token-keys="0:$(openssl rand -base64 32)"`,
			`--from-literal=admin-token=`,
			"--from-file=nats-webhookd-creds=",
			"--from-file=nats-fetcher-creds=",
			`NATS TLS files come from Secret "plaidstream-nats-client-tls"`,
			"http://plaidstream-fetcher.payments.svc:9091/v1/items",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.valueSet, func(t *testing.T) {
			t.Parallel()
			args := []string{"template", releaseName, dir, "--namespace", releaseNamespace, "--kube-version", kubeVersion, "--show-only", "templates/zz-notes-probe.yaml"}
			for _, f := range tc.files {
				args = append(args, "--values", filepath.Join(dir, f))
			}
			out, err := helm(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			m, err := decodeManifests(out)
			if err != nil || len(m.ConfigMaps) != 1 {
				t.Fatalf("decode the NOTES probe: %v, %d ConfigMaps", err, len(m.ConfigMaps))
			}
			notes := m.ConfigMaps[0].Data["notes"]
			for _, w := range tc.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES lack %q:\n%s", w, notes)
				}
			}
			if strings.Contains(notes, "<no value>") {
				t.Errorf("NOTES print <no value>:\n%s", notes)
			}
		})
	}
}
