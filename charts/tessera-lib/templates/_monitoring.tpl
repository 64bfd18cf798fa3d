{{/*
Alert rules over the RED metrics Tessera emits: the same alerts (names, fault definitions, SLO
shape) as observability/alerts/tessera.rules.yaml, rendered per target (namespace, job) with
values-configurable SLOs and thresholds. Metrics:
  - every service (platform/src/telemetry/README.md): rpc_server_duration_bucket,
    rpc_server_requests_total, rpc_server_errors_total (rpc_service, rpc_method, rpc_response_status_code);
  - the GraphQL gateway (gateway/graphql/src/metrics.ts): graphql_operation_duration_seconds_bucket,
    graphql_operation_requests_total, graphql_operation_errors_total (operation_type, operation_name, code);
  - the REST edge (gateway/rest/src/observability.ts): http_server_duration_seconds_bucket,
    http_server_requests_total, http_server_errors_total (route, method, status_code);
  - prometheus-nats-exporter (-jsz=all): the JetStream consumer and stream gauges.
Errors count server-side faults only (the caller's mistakes are not the service's): gRPC codes
UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS; GraphQL codes
INTERNAL_SERVER_ERROR, UNAVAILABLE; REST 5xx.
Scope: the label fields of _labels.tpl plus
  namespace   where the PrometheusRule goes
  fullname    its name
  monitoring  the chart's `monitoring` values
  targets     list of {name, job, namespace, edge, slo}: edge "" (a service: RPC rules, slo
              {p95Seconds, methods: {"<rpc_service>/<rpc_method>": seconds}}), "graphql" (slo
              {p95Seconds, operations: {"<operation_name>": seconds}}) or "rest" (slo {p95Seconds,
              routes: {"<route>": seconds}})
  nats        whether to add the NATS (JetStream) rules
*/}}

{{/* The server-side fault matchers, one definition for the chart and observability/alerts. */}}
{{- define "tessera-lib.alerts.faults" -}}
{{- $faults := dict
  "rpc" "rpc_response_status_code=~\"UNKNOWN|DEADLINE_EXCEEDED|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS\""
  "graphql" "code=~\"INTERNAL_SERVER_ERROR|UNAVAILABLE\""
  "rest" "status_code=~\"5..\"" -}}
{{- index $faults . -}}
{{- end -}}

{{/*
P95-above-SLO alerts of one target: a rule for every endpoint without an override, one per override.
  alert, a, window, t (target), sel (its selector), by (endpoint labels), histogram, requests,
  overrides (list of {key, matchers, seconds}), on (labels an override is matched on), what (summary text).
*/}}
{{- define "tessera-lib.alerts.latency" -}}
{{- $ := . -}}
{{- $p95 := printf "histogram_quantile(0.95, sum by (le, namespace, job, %s) (rate(%s{%%s}[%s])))" .by .histogram .window }}
- alert: {{ .alert }}
  expr: |
    {{ printf $p95 .sel }} > {{ .t.slo.p95Seconds }}
    {{- if .overrides }}
    unless on ({{ .on }}) (
    {{- range $i, $o := .overrides }}
      {{ if $i }}or {{ end }}{{ $.requests }}{ {{- $.sel }}, {{ $o.matchers }}}
    {{- end }}
    )
    {{- end }}
  for: {{ .a.latency.for }}
  labels:
    severity: {{ .a.latency.severity }}
    tessera_component: {{ .t.name }}
  annotations:
    summary: {{ printf "%s: P95 latency of %s is above its SLO" .t.name .what | quote }}
    description: {{ printf "P95 over %s is {{ $value | humanizeDuration }} in namespace {{ $labels.namespace }}, SLO %vs." .window .t.slo.p95Seconds | quote }}
{{- range .overrides }}
- alert: {{ $.alert }}
  expr: |
    {{ printf $p95 (printf "%s, %s" $.sel .matchers) }} > {{ .seconds }}
  for: {{ $.a.latency.for }}
  labels:
    severity: {{ $.a.latency.severity }}
    tessera_component: {{ $.t.name }}
  annotations:
    summary: {{ printf "%s: P95 latency of %s is above its SLO" $.t.name .key | quote }}
    description: {{ printf "P95 over %s is {{ $value | humanizeDuration }} in namespace {{ $labels.namespace }}, SLO %vs." $.window .seconds | quote }}
{{- end }}
{{- end -}}

{{/*
Error-rate alerts (warning: <prefix>ErrorRateHigh, critical: <prefix>ErrorRateCritical) of one target.
  prefix, a, window, t, sel, by, errors, faults (matcher), requests, what (summary text), fault (description text).
*/}}
{{- define "tessera-lib.alerts.errorRate" -}}
{{- $ := . -}}
{{- $requests := printf "sum by (namespace, job, %s) (rate(%s{%s}[%s]))" .by .requests .sel .window }}
{{- range $severity, $threshold := dict "warning" $.a.errorRate.warning "critical" $.a.errorRate.critical }}
- alert: {{ printf "%sErrorRate%s" $.prefix (ternary "High" "Critical" (eq $severity "warning")) }}
  expr: |
    (
      sum by (namespace, job, {{ $.by }}) (rate({{ $.errors }}{ {{- $.sel }}, {{ $.faults }}}[{{ $.window }}]))
    /
      {{ $requests }}
    ) > {{ $threshold }}
    and on (namespace, job, {{ $.by }}) {{ $requests }} > {{ $.a.errorRate.minRequestsPerSecond }}
  for: {{ $.a.errorRate.for }}
  labels:
    severity: {{ $severity }}
    tessera_component: {{ $.t.name }}
  annotations:
    summary: {{ printf "%s: more than %v%% of %s fail" $.t.name (mulf $threshold 100) $.what | quote }}
    description: {{ printf "{{ $value | humanizePercentage }} over %s were %s." $.window $.fault | quote }}
{{- end }}
{{- end -}}

{{- define "tessera-lib.prometheusRule" -}}
{{- $a := .monitoring.alerts -}}
{{- $window := $a.window -}}
{{- $groups := dict "rpc" (list) "graphql" (list) "rest" (list) -}}
{{- range .targets }}
{{- $kind := .edge | default "rpc" }}
{{- $_ := set $groups $kind (append (index $groups $kind) .) }}
{{- end -}}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ .fullname }}
  namespace: {{ .namespace }}
  labels:
    {{- include "tessera-lib.labels" . | nindent 4 }}
    {{- with .monitoring.prometheusRule.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  groups:
    {{- with $groups.rpc }}
    - name: {{ printf "%s.rpc" $.fullname }}
      rules:
        {{- range . }}
        {{- $sel := printf "namespace=%q, job=%q" .namespace .job }}
        {{- $overrides := list }}
        {{- range $endpoint, $seconds := .slo.methods | default dict }}
        {{- $parts := splitList "/" $endpoint }}
        {{- $overrides = append $overrides (dict "key" $endpoint "seconds" $seconds "matchers" (printf "rpc_service=%q, rpc_method=%q" (index $parts 0) (index $parts 1))) }}
        {{- end }}
        {{- $what := "{{ $labels.rpc_service }}/{{ $labels.rpc_method }}" }}
        {{- include "tessera-lib.alerts.latency" (dict "alert" "TesseraEndpointLatencyAboveSLO" "a" $a "window" $window "t" . "sel" $sel "by" "rpc_service, rpc_method" "histogram" "rpc_server_duration_bucket" "requests" "rpc_server_requests_total" "overrides" $overrides "on" "rpc_service, rpc_method" "what" $what) | trim | nindent 8 }}
        {{- include "tessera-lib.alerts.errorRate" (dict "prefix" "TesseraEndpoint" "a" $a "window" $window "t" . "sel" $sel "by" "rpc_service, rpc_method" "errors" "rpc_server_errors_total" "faults" (include "tessera-lib.alerts.faults" "rpc") "requests" "rpc_server_requests_total" "what" (printf "%s calls" $what) "fault" "server-side faults (gRPC UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS)") | trim | nindent 8 }}
        {{- end }}
    {{- end }}
    {{- with $groups.graphql }}
    - name: {{ printf "%s.graphql" $.fullname }}
      rules:
        {{- range . }}
        {{- $sel := printf "namespace=%q, job=%q" .namespace .job }}
        {{- $overrides := list }}
        {{- range $operation, $seconds := .slo.operations | default dict }}
        {{- $overrides = append $overrides (dict "key" (printf "GraphQL operation %s" $operation) "seconds" $seconds "matchers" (printf "operation_name=%q" $operation)) }}
        {{- end }}
        {{- $what := "GraphQL {{ $labels.operation_type }} {{ $labels.operation_name }}" }}
        {{- include "tessera-lib.alerts.latency" (dict "alert" "TesseraGraphQLOperationLatencyAboveSLO" "a" $a "window" $window "t" . "sel" $sel "by" "operation_type, operation_name" "histogram" "graphql_operation_duration_seconds_bucket" "requests" "graphql_operation_requests_total" "overrides" $overrides "on" "operation_name" "what" $what) | trim | nindent 8 }}
        {{- include "tessera-lib.alerts.errorRate" (dict "prefix" "TesseraGraphQLOperation" "a" $a "window" $window "t" . "sel" $sel "by" "operation_type, operation_name" "errors" "graphql_operation_errors_total" "faults" (include "tessera-lib.alerts.faults" "graphql") "requests" "graphql_operation_requests_total" "what" (printf "%s operations" $what) "fault" "server-side errors (INTERNAL_SERVER_ERROR, UNAVAILABLE)") | trim | nindent 8 }}
        {{- end }}
    {{- end }}
    {{- with $groups.rest }}
    - name: {{ printf "%s.rest" $.fullname }}
      rules:
        {{- range . }}
        {{- $sel := printf "namespace=%q, job=%q" .namespace .job }}
        {{- $overrides := list }}
        {{- range $route, $seconds := .slo.routes | default dict }}
        {{- $overrides = append $overrides (dict "key" (printf "route %s" $route) "seconds" $seconds "matchers" (printf "route=%q" $route)) }}
        {{- end }}
        {{- $what := "{{ $labels.method }} {{ $labels.route }}" }}
        {{- include "tessera-lib.alerts.latency" (dict "alert" "TesseraRestRouteLatencyAboveSLO" "a" $a "window" $window "t" . "sel" $sel "by" "route, method" "histogram" "http_server_duration_seconds_bucket" "requests" "http_server_requests_total" "overrides" $overrides "on" "route" "what" $what) | trim | nindent 8 }}
        {{- include "tessera-lib.alerts.errorRate" (dict "prefix" "TesseraRestRoute" "a" $a "window" $window "t" . "sel" $sel "by" "route, method" "errors" "http_server_errors_total" "faults" (include "tessera-lib.alerts.faults" "rest") "requests" "http_server_requests_total" "what" (printf "%s requests" $what) "fault" "5xx responses") | trim | nindent 8 }}
        {{- end }}
    {{- end }}
    {{- if .nats }}
    {{- $n := $a.nats }}
    {{- $events := printf "stream_name=%q" $n.eventsStream }}
    - name: {{ printf "%s.nats" .fullname }}
      rules:
        - alert: TesseraConsumerLagHigh
          expr: |
            max by (stream_name, consumer_name) ({{ $n.metrics.consumerPending }}{ {{- $events }}}) > {{ $n.consumerLagThreshold }}
          for: {{ $n.for }}
          labels:
            severity: warning
          annotations:
            summary: "Consumer {{ "{{" }} $labels.consumer_name {{ "}}" }} is {{ "{{" }} $value {{ "}}" }} events behind on {{ "{{" }} $labels.stream_name {{ "}}" }}"
            description: {{ printf "Events wait for more than %s (threshold %v); the consuming service is slow or down." $n.for $n.consumerLagThreshold | quote }}
        - alert: TesseraConsumerStalled
          expr: |
            max by (stream_name, consumer_name) ({{ $n.metrics.consumerPending }}{ {{- $events }}}) > 0
            and on (stream_name, consumer_name)
            max by (stream_name, consumer_name) (changes({{ $n.metrics.consumerDelivered }}{ {{- $events }}}[{{ $n.stallWindow }}])) == 0
          for: 5m
          labels:
            severity: critical
          annotations:
            summary: {{ printf "Consumer {{ $labels.consumer_name }} has pending events and delivered none for %s" $n.stallWindow | quote }}
            description: "Nothing is consuming it: check the service's pods and its NATS connection."
        - alert: TesseraDeadLettersGrowing
          expr: |
            sum by (stream_name) (delta({{ $n.metrics.streamMessages }}{stream_name={{ $n.deadLetterStream | quote }}}[{{ $n.deadLetterWindow }}])) > 0
          labels:
            severity: warning
          annotations:
            summary: {{ printf "{{ $value }} events were dead-lettered in the last %s" $n.deadLetterWindow | quote }}
            description: {{ printf "A consumer exhausted its retries; inspect %s." $n.deadLetterStream | quote }}
    {{- end }}
{{- end -}}
