{{/*
Names
*/}}

{{/* The chart name, overridable. */}}
{{- define "plaidstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The resource name prefix: release name, plus the chart name unless the release name contains it. */}}
{{- define "plaidstream.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* A component's resource name: (dict "root" $ "component" "webhookd"). */}}
{{- define "plaidstream.componentName" -}}
{{- printf "%s-%s" (include "plaidstream.fullname" .root | trunc 45 | trimSuffix "-") .component }}
{{- end }}

{{- define "plaidstream.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels
*/}}

{{/* Labels of every resource: (dict "root" $ "component" "webhookd"); component may be empty. */}}
{{- define "plaidstream.labels" -}}
helm.sh/chart: {{ include "plaidstream.chart" .root }}
{{ include "plaidstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: plaidstream
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: stable for the life of a release. */}}
{{- define "plaidstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plaidstream.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "plaidstream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "plaidstream.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding Plaid credentials, the token key and NATS credentials. */}}
{{- define "plaidstream.secretName" -}}
{{- default (include "plaidstream.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "plaidstream.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Sizing
*/}}

{{/* The most replicas a component can run: the HPA's maximum, else replicaCount. */}}
{{- define "plaidstream.maxReplicas" -}}
{{- if .values.autoscaling.enabled }}
{{- .values.autoscaling.maxReplicas | int }}
{{- else }}
{{- .values.replicaCount | int }}
{{- end }}
{{- end }}

{{/* FETCHER_PLAID_RATE: the client-wide budget split over the most replicas, rounded down to 0.01. */}}
{{- define "plaidstream.fetcher.plaidRate" -}}
{{- if ne (toString .Values.fetcher.config.plaidRate) "" }}
{{- .Values.fetcher.config.plaidRate }}
{{- else }}
{{- $replicas := max 1 (int (include "plaidstream.maxReplicas" (dict "values" .Values.fetcher))) }}
{{- $centi := div (mulf .Values.plaid.clientRateLimit 100 | floor | int) $replicas }}
{{- if lt $centi 1 }}
{{- fail "plaid.clientRateLimit divided by the fetcher's replicas is below 0.01 requests per second" }}
{{- end }}
{{- printf "%d.%02d" (div $centi 100) (mod $centi 100) }}
{{- end }}
{{- end }}

{{/*
Shutdown budgets. Seconds each binary may take after SIGTERM, read from the
code: webhookd keeps serving for WEBHOOKD_SHUTDOWN_DELAY, then in-flight
requests and the NATS drain share WEBHOOKD_SHUTDOWN_TIMEOUT; the fetcher's
in-flight syncs get FETCHER_SHUTDOWN_TIMEOUT, then closing the admin
listener and draining NATS take at most 10 s (drainTimeout in
internal/app/fetcher/app.go). A preStop sleep runs before SIGTERM and counts
against the grace period too.
*/}}
{{- define "plaidstream.shutdownBudget" -}}
{{- $v := index .root.Values .component }}
{{- $budget := add (int $v.preStopSleepSeconds) (int $v.config.shutdownTimeoutSeconds) }}
{{- if eq .component "webhookd" }}
{{- $budget = add $budget (int $v.config.shutdownDelaySeconds) }}
{{- else }}
{{- $budget = add $budget 10 }}
{{- end }}
{{- $budget }}
{{- end }}

{{/* terminationGracePeriodSeconds: the budget plus 10 s of margin, or the override if it is above the budget. */}}
{{- define "plaidstream.terminationGracePeriodSeconds" -}}
{{- $v := index .root.Values .component }}
{{- $budget := int (include "plaidstream.shutdownBudget" .) }}
{{- if kindIs "invalid" $v.terminationGracePeriodSeconds }}
{{- add $budget 10 }}
{{- else if le (int $v.terminationGracePeriodSeconds) $budget }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must be above the in-app shutdown budget of %d s, or Kubernetes kills the pod mid-shutdown" .component (int $v.terminationGracePeriodSeconds) $budget) }}
{{- else }}
{{- $v.terminationGracePeriodSeconds | int }}
{{- end }}
{{- end }}

{{/*
Secrets and NATS credentials
*/}}

{{/* Where the Secret's keys are mounted. */}}
{{- define "plaidstream.secretsDir" -}}/etc/plaidstream/secrets{{- end }}
{{- define "plaidstream.natsTLSDir" -}}/etc/plaidstream/nats-tls{{- end }}

{{/* The NATS credentials key a component uses (its override, else the shared one). */}}
{{- define "plaidstream.natsCredsKey" -}}
{{- $a := .root.Values.nats.auth }}
{{- if eq .component "webhookd" }}
{{- default $a.credsKey $a.webhookdCredsKey }}
{{- else }}
{{- default $a.credsKey $a.fetcherCredsKey }}
{{- end }}
{{- end }}

{{/*
The Secret's keys mounted as files for a component, as YAML
"items: [{key, path}]" (path is also the file name under secretsDir) and the
environment variable naming each file.
*/}}
{{- define "plaidstream.secretFiles" -}}
{{- $root := .root }}
{{- $k := $root.Values.secrets.keys }}
{{- $files := list }}
{{- $files = append $files (dict "key" (required "secrets.keys.plaidSecret is required" $k.plaidSecret) "path" "plaid-secret" "env" "PLAID_SECRET_FILE") }}
{{- if eq .component "fetcher" }}
{{- if not $k.tokenKeys }}
{{- $files = append $files (dict "key" (required "secrets.keys.tokenKey or secrets.keys.tokenKeys is required" $k.tokenKey) "path" "token-key" "env" "PLAIDSTREAM_TOKEN_KEY_FILE") }}
{{- end }}
{{- if $k.adminToken }}
{{- $files = append $files (dict "key" $k.adminToken "path" "admin-token" "env" "FETCHER_ADMIN_TOKEN_FILE") }}
{{- end }}
{{- end }}
{{- $creds := include "plaidstream.natsCredsKey" . }}
{{- if and $creds $root.Values.nats.auth.nkeySeedKey }}
{{- fail "nats.auth: set NATS credentials (credsKey) or an nkey seed (nkeySeedKey), not both" }}
{{- end }}
{{- if $creds }}
{{- $files = append $files (dict "key" $creds "path" "nats.creds" "env" "NATS_CREDS") }}
{{- end }}
{{- if $root.Values.nats.auth.nkeySeedKey }}
{{- $files = append $files (dict "key" $root.Values.nats.auth.nkeySeedKey "path" "nats.nkey" "env" "NATS_NKEY_SEED_FILE") }}
{{- end }}
{{- toYaml (dict "items" $files) }}
{{- end }}

{{/*
Pod template pieces shared by both Deployments: (dict "root" $ "component" "webhookd").
*/}}

{{/* Environment of a container: secrets by reference, files by path. */}}
{{- define "plaidstream.secretEnv" -}}
{{- $root := .root }}
{{- $k := $root.Values.secrets.keys }}
- name: PLAID_CLIENT_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "plaidstream.secretName" $root }}
      key: {{ required "secrets.keys.plaidClientId is required" $k.plaidClientId }}
{{- if and (eq .component "fetcher") $k.tokenKeys }}
- name: PLAIDSTREAM_TOKEN_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "plaidstream.secretName" $root }}
      key: {{ $k.tokenKeys }}
{{- end }}
{{- range (include "plaidstream.secretFiles" . | fromYaml).items }}
- name: {{ .env }}
  value: {{ printf "%s/%s" (include "plaidstream.secretsDir" $root) .path | quote }}
{{- end }}
{{- if $root.Values.nats.tls.enabled }}
{{- $t := $root.Values.nats.tls }}
- name: NATS_TLS_CA
  value: {{ printf "%s/ca.crt" (include "plaidstream.natsTLSDir" $root) | quote }}
{{- if and $t.certKey $t.keyKey }}
- name: NATS_TLS_CERT
  value: {{ printf "%s/tls.crt" (include "plaidstream.natsTLSDir" $root) | quote }}
- name: NATS_TLS_KEY
  value: {{ printf "%s/tls.key" (include "plaidstream.natsTLSDir" $root) | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Volumes: the Secret's keys this component needs (only those), NATS TLS. */}}
{{- define "plaidstream.volumes" -}}
{{- $root := .root }}
- name: secrets
  secret:
    secretName: {{ include "plaidstream.secretName" $root }}
    defaultMode: 0440
    items:
{{- range (include "plaidstream.secretFiles" . | fromYaml).items }}
      - key: {{ .key }}
        path: {{ .path }}
{{- end }}
{{- if $root.Values.nats.tls.enabled }}
{{- $t := $root.Values.nats.tls }}
- name: nats-tls
  secret:
    secretName: {{ required "nats.tls.existingSecret is required with nats.tls.enabled" $t.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ required "nats.tls.caKey is required with nats.tls.enabled" $t.caKey }}
        path: ca.crt
{{- if and $t.certKey $t.keyKey }}
      - key: {{ $t.certKey }}
        path: tls.crt
      - key: {{ $t.keyKey }}
        path: tls.key
{{- end }}
{{- end }}
{{- end }}

{{- define "plaidstream.volumeMounts" -}}
- name: secrets
  mountPath: {{ include "plaidstream.secretsDir" .root }}
  readOnly: true
{{- if .root.Values.nats.tls.enabled }}
- name: nats-tls
  mountPath: {{ include "plaidstream.natsTLSDir" .root }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Scheduling: node selection, tolerations, anti-affinity and topology spread. */}}
{{- define "plaidstream.scheduling" -}}
{{- $v := index .root.Values .component }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
{{- if $v.affinity }}
  {{- toYaml $v.affinity | nindent 2 }}
{{- else }}
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "plaidstream.selectorLabels" . | nindent 14 }}
{{- end }}
topologySpreadConstraints:
{{- if $v.topologySpreadConstraints }}
  {{- toYaml $v.topologySpreadConstraints | nindent 2 }}
{{- else }}
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "plaidstream.selectorLabels" . | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
{{- end }}
{{- end }}

{{/* preStop: the kubelet's own sleep (the image has no shell). */}}
{{- define "plaidstream.lifecycle" -}}
{{- $v := index .root.Values .component }}
{{- if gt (int $v.preStopSleepSeconds) 0 }}
lifecycle:
  preStop:
    sleep:
      seconds: {{ $v.preStopSleepSeconds | int }}
{{- end }}
{{- end }}

{{/*
Alert rule helpers
*/}}

{{/* The label matchers every rule expression starts with: this release's namespace. */}}
{{- define "plaidstream.ruleSelector" -}}
namespace="{{ .Release.Namespace }}"
{{- end }}

{{/* An alert's labels and annotations: (dict "root" $ "name" ... "severity" ... "summary" ... "description" ...). */}}
{{- define "plaidstream.alertMeta" -}}
{{- $pr := .root.Values.prometheusRule }}
labels:
  severity: {{ .severity }}
  {{- with $pr.alertLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  summary: {{ .summary | quote }}
  description: {{ .description | quote }}
  {{- with $pr.runbookBaseURL }}
  runbook_url: {{ printf "%s#%s" (trimSuffix "/" .) ($.name | lower) | quote }}
  {{- end }}
{{- end }}
