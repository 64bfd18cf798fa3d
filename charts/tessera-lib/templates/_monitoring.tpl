{{/*
Alert rules over the kit's RED metrics (platform/src/telemetry/README.md): the histogram
`rpc_server_duration` (seconds; series rpc_server_duration_bucket), the counters
rpc_server_requests_total and rpc_server_errors_total, labelled rpc_service, rpc_method,
rpc_response_status_code. Scope: the label fields of _labels.tpl plus
  namespace   where the PrometheusRule goes
  fullname    its name
  monitoring  the chart's `monitoring` values
  targets     list of {name, job, namespace, slo: {p95Seconds, methods: {"<rpc_service>/<rpc_method>": seconds}}}
  nats        whether to add the NATS (JetStream) rules
*/}}
{{- define "tessera-lib.prometheusRule" -}}
{{- $a := .monitoring.alerts -}}
{{- $window := $a.window -}}
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
    - name: {{ printf "%s.rpc" .fullname }}
      rules:
        {{- range .targets }}
        {{- $t := . }}
        {{- $sel := printf "namespace=%q, job=%q" .namespace .job }}
        {{- $overrides := .slo.methods | default dict }}
        {{- $p95 := printf "histogram_quantile(0.95, sum by (le, namespace, job, rpc_service, rpc_method) (rate(rpc_server_duration_bucket{%%s}[%s])))" $window }}
        - alert: TesseraRpcLatencyP95AboveSLO
          expr: |
            {{ printf $p95 $sel }} > {{ .slo.p95Seconds }}
            {{- if $overrides }}
            unless on (rpc_service, rpc_method) (
            {{- $first := true }}
            {{- range $endpoint, $_ := $overrides }}
            {{- $parts := splitList "/" $endpoint }}
              {{ if not $first }}or {{ end }}rpc_server_requests_total{ {{- $sel }}, rpc_service={{ index $parts 0 | quote }}, rpc_method={{ index $parts 1 | quote }}}
            {{- $first = false }}
            {{- end }}
            )
            {{- end }}
          for: {{ $a.latency.for }}
          labels:
            severity: {{ $a.latency.severity }}
            tessera_component: {{ .name }}
          annotations:
            summary: {{ printf "%s: P95 latency of {{ $labels.rpc_service }}/{{ $labels.rpc_method }} above its SLO" .name | quote }}
            description: {{ printf "P95 over %s is {{ $value | humanizeDuration }}, SLO %vs (values: %s.slo.p95Seconds)." $window .slo.p95Seconds .name | quote }}
        {{- range $endpoint, $seconds := $overrides }}
        {{- $parts := splitList "/" $endpoint }}
        {{- $msel := printf "%s, rpc_service=%q, rpc_method=%q" $sel (index $parts 0) (index $parts 1) }}
        - alert: TesseraRpcLatencyP95AboveSLO
          expr: |
            {{ printf $p95 $msel }} > {{ $seconds }}
          for: {{ $a.latency.for }}
          labels:
            severity: {{ $a.latency.severity }}
            tessera_component: {{ $t.name }}
          annotations:
            summary: {{ printf "P95 latency of %s above its SLO" $endpoint | quote }}
            description: {{ printf "P95 over %s is {{ $value | humanizeDuration }}, SLO %vs." $window $seconds | quote }}
        {{- end }}
        {{- range $severity, $threshold := dict "warning" $a.errorRate.warning "critical" $a.errorRate.critical }}
        - alert: {{ printf "TesseraRpcErrorRate%s" (title $severity) }}
          expr: |
            (
              sum by (namespace, job, rpc_service, rpc_method) (rate(rpc_server_errors_total{ {{- $sel }}}[{{ $window }}]))
            /
              sum by (namespace, job, rpc_service, rpc_method) (rate(rpc_server_requests_total{ {{- $sel }}}[{{ $window }}]))
            ) > {{ $threshold }}
          for: {{ $a.errorRate.for }}
          labels:
            severity: {{ $severity }}
            tessera_component: {{ $t.name }}
          annotations:
            summary: {{ printf "%s: error rate of {{ $labels.rpc_service }}/{{ $labels.rpc_method }} above %v%%" $t.name (mulf $threshold 100) | quote }}
            description: {{ printf "{{ $value | humanizePercentage }} of calls failed over %s (non-OK gRPC status)." $window | quote }}
        {{- end }}
        {{- end }}
    {{- if .nats }}
    {{- $n := $a.nats }}
    - name: {{ printf "%s.nats" .fullname }}
      rules:
        - alert: TesseraNatsConsumerLag
          expr: |
            max by (stream_name, consumer_name) ({{ $n.metrics.consumerPending }}{stream_name={{ $n.eventsStream | quote }}}) > {{ $n.consumerLagThreshold }}
          for: {{ $n.for }}
          labels:
            severity: warning
          annotations:
            summary: "Consumer {{ "{{" }} $labels.consumer_name {{ "}}" }} is falling behind on {{ "{{" }} $labels.stream_name {{ "}}" }}"
            description: {{ printf "{{ $value }} events not yet delivered (threshold %v)." $n.consumerLagThreshold | quote }}
        - alert: TesseraNatsDeadLettersGrowing
          expr: |
            delta({{ $n.metrics.streamMessages }}{stream_name={{ $n.deadLetterStream | quote }}}[{{ $n.deadLetterWindow }}]) > 0
          labels:
            severity: warning
          annotations:
            summary: "Events are being dead-lettered"
            description: {{ printf "{{ $value }} messages were added to %s in the last %s: a consumer exhausted its retries." $n.deadLetterStream $n.deadLetterWindow | quote }}
    {{- end }}
{{- end -}}
