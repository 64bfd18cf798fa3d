{{/*
The plan catalogue (config/plans.yaml) as the charts ship it to the services. Each application
chart links files/plans.yaml to the repository's config/plans.yaml (no copy of its own), renders it
into a ConfigMap in every namespace its services run in, and gives each component scope
  plans   (dict "configMap" <name> "checksum" <sha256 of the file>)
so the Deployment mounts it at /etc/tessera/plans, sets TESSERA_PLANS_FILE, and rolls when it changes.
*/}}

{{/* Where the catalogue is mounted in every container. */}}
{{- define "tessera-lib.plansDir" -}}/etc/tessera/plans{{- end -}}

{{/* The chart's catalogue file, checked to be a catalogue (a list of plans): (list $ ) -> its text. */}}
{{- define "tessera-lib.plansFile" -}}
{{- $root := index . 0 -}}
{{- $text := $root.Files.Get "files/plans.yaml" -}}
{{- $parsed := $text | fromYaml -}}
{{- if not $parsed.plans }}{{ fail (printf "files/plans.yaml (a link to config/plans.yaml) is missing, empty or not a plan catalogue %s" (get $parsed "Error")) }}{{ end -}}
{{- $text -}}
{{- end -}}

{{/* The ConfigMap holding the catalogue, in scope.namespace (scope: label fields plus `configMap`, `text`). */}}
{{- define "tessera-lib.plansConfigMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .configMap }}
  namespace: {{ .namespace }}
  labels:
    {{- include "tessera-lib.labels" . | nindent 4 }}
data:
  plans.yaml: {{ .text | quote }}
{{- end -}}
