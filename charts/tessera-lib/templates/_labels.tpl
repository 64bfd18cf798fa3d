{{/*
Labels. Every template here takes a "scope" dict the calling chart builds:
  root       the chart's top-level context ($)
  name       the component (tenancy, identity, ...) or a non-component name (guardrails)
  component  value of app.kubernetes.io/component (control-plane, application, edge, migration, guardrails)
  tenant     value of tessera.io/tenant ("shared", or the tenant's id)
  tier       value of tessera.io/tier (shared, pool, silo)
  plane      value of tessera.io/plane (control, application, edge, tenant)
*/}}

{{/* A DNS-1123 name of at most 63 characters. */}}
{{- define "tessera-lib.dnsName" -}}
{{- . | lower | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels cost allocation and policies read: on every object and every pod template. */}}
{{- define "tessera-lib.labels" -}}
app.kubernetes.io/name: {{ .name | quote }}
app.kubernetes.io/instance: {{ .root.Release.Name | quote }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component | quote }}
app.kubernetes.io/part-of: tessera
app.kubernetes.io/managed-by: {{ .root.Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | quote }}
tessera.io/tenant: {{ .tenant | quote }}
tessera.io/tier: {{ .tier | quote }}
tessera.io/plane: {{ .plane | quote }}
{{- end -}}

{{/* Labels that select one component's pods (stable across upgrades). */}}
{{- define "tessera-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ .name | quote }}
app.kubernetes.io/instance: {{ .root.Release.Name | quote }}
{{- end -}}
