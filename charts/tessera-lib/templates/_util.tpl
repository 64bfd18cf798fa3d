{{/*
Deep merge where the source wins, including false, 0 and "" (sprig's merge and mergeOverwrite
treat those as empty and would let a default `true` win): (list $dst $src). Mutates $dst.
*/}}
{{- define "tessera-lib.deepMerge" -}}
{{- $dst := index . 0 -}}
{{- $src := index . 1 -}}
{{- range $k, $v := $src -}}
{{- $cur := index $dst $k -}}
{{- if and (kindIs "map" $v) (kindIs "map" $cur) -}}
{{- include "tessera-lib.deepMerge" (list $cur $v) -}}
{{- else -}}
{{- $_ := set $dst $k $v -}}
{{- end -}}
{{- end -}}
{{- end -}}
