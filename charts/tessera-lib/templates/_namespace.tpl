{{/*
Namespace guardrails. Scope: the label fields of _labels.tpl plus
  namespace      the namespace they guard
  networkPolicy  the chart's `networkPolicy` values
  egressPeers    dict of extra named egress allows: name -> {peers: [...], ports: [...]}
  quota          ResourceQuota `hard` map ({} for none)
  limitRange     LimitRange container defaults ({} for none)
*/}}

{{/*
A namespace the chart creates, with Pod Security "restricted" enforced. A pre-install hook, so that
the migration Jobs and ExternalSecrets (hooks too) can run in it on the first install. The delete
policy `hook-failed` means Helm never deletes it: not on upgrade, not on uninstall (offboarding
deletes it), and an install fails rather than replace one that exists.
*/}}
{{- define "tessera-lib.namespace" -}}
apiVersion: v1
kind: Namespace
metadata:
  name: {{ .namespace }}
  labels:
    {{- include "tessera-lib.labels" . | nindent 4 }}
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
    pod-security.kubernetes.io/audit: restricted
    pod-security.kubernetes.io/warn: restricted
  annotations:
    helm.sh/hook: pre-install
    helm.sh/hook-weight: "-100"
    helm.sh/hook-delete-policy: hook-failed
{{- end -}}

{{- define "tessera-lib.guardMetadata" -}}
{{- $scope := index . 0 -}}
name: {{ index . 1 }}
namespace: {{ $scope.namespace }}
labels:
  {{- include "tessera-lib.labels" (dict "root" $scope.root "name" "guardrails" "component" "guardrails" "tenant" $scope.tenant "tier" $scope.tier "plane" $scope.plane) | nindent 2 }}
{{- end -}}

{{- define "tessera-lib.egressPolicy" -}}
{{- $scope := index . 0 -}}
{{- $name := index . 1 -}}
{{- $rule := index . 2 -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- include "tessera-lib.guardMetadata" (list $scope (printf "allow-egress-%s" $name)) | nindent 2 }}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - ports:
        {{- range $rule.ports }}
        - port: {{ .port | int }}
          protocol: {{ .protocol | default "TCP" }}
        {{- end }}
      {{- with $rule.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/*
Default deny (ingress and egress) for every pod of the namespace, then the explicit egress allows
every Tessera pod needs: DNS, PostgreSQL, NATS, identity (JWKS and token exchange), and the
chart's extras (OTLP collector, other Tessera services). Ingress allows are per component.
*/}}
{{- define "tessera-lib.namespacePolicies" -}}
{{- $np := .networkPolicy -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- include "tessera-lib.guardMetadata" (list . "default-deny") | nindent 2 }}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
{{ include "tessera-lib.egressPolicy" (list . "dns" (dict "to" $np.dns.to "ports" (list (dict "port" 53 "protocol" "UDP") (dict "port" 53 "protocol" "TCP")))) }}
---
{{ include "tessera-lib.egressPolicy" (list . "postgres" (dict "to" $np.postgres.to "ports" (list (dict "port" $np.postgres.port)))) }}
---
{{ include "tessera-lib.egressPolicy" (list . "nats" (dict "to" $np.nats.to "ports" (list (dict "port" $np.nats.port)))) }}
{{- range $name, $rule := .egressPeers }}
{{- if $rule.to }}
---
{{ include "tessera-lib.egressPolicy" (list $ $name $rule) }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "tessera-lib.resourceQuota" -}}
apiVersion: v1
kind: ResourceQuota
metadata:
  {{- include "tessera-lib.guardMetadata" (list . "tessera-quota") | nindent 2 }}
spec:
  hard:
    {{- range $k, $v := .quota }}
    {{ $k }}: {{ $v | quote }}
    {{- end }}
{{- end -}}

{{- define "tessera-lib.limitRange" -}}
apiVersion: v1
kind: LimitRange
metadata:
  {{- include "tessera-lib.guardMetadata" (list . "tessera-limits") | nindent 2 }}
spec:
  limits:
    - type: Container
      default:
        {{- toYaml .limitRange.default | nindent 8 }}
      defaultRequest:
        {{- toYaml .limitRange.defaultRequest | nindent 8 }}
      max:
        {{- toYaml .limitRange.max | nindent 8 }}
{{- end -}}
