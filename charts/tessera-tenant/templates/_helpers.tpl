{{/* Names and labels of a silo tenant's release. The workload templates come from tessera-lib. */}}

{{- define "tessera-tenant.namespace" -}}
{{- .Values.namespace.name | default (printf "tessera-tenant-%s" .Values.tenant.slug) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's objects (the namespace is the tenant's own): (list $ "projects") -> projects. */}}
{{- define "tessera-tenant.fullname" -}}
{{- include "tessera-lib.dnsName" (index . 1 | kebabcase) -}}
{{- end -}}

{{- define "tessera-tenant.identityOrigin" -}}
{{- printf "http://%s-identity.%s.svc.cluster.local:%d" .Values.platform.prefix .Values.platform.namespace (last .Values.platform.identity.ports | int) -}}
{{- end -}}

{{/* Labels scope shared by every object of the tenant. */}}
{{- define "tessera-tenant.labelScope" -}}
{{- $root := index . 0 -}}
{{- $scope := index . 1 -}}
{{- $_ := set $scope "root" $root -}}
{{- $_ := set $scope "tenant" $root.Values.tenant.id -}}
{{- $_ := set $scope "tier" "silo" -}}
{{- $_ := set $scope "plane" "application" -}}
{{- $_ := set $scope "namespace" (include "tessera-tenant.namespace" $root) -}}
{{- end -}}

{{/*
The tenant's plan from the plan catalogue (files/plans.yaml, a link to the repository's
config/plans.yaml: the file every service reads) as {quota, limitRange, replicas, autoscaling}: the
namespace's ResourceQuota `hard` (the plan's `resourceQuota` plus `requests.storage` from its
storage quota, none when unlimited), its LimitRange, and each service's replicas and HPA bounds.
*/}}
{{- define "tessera-tenant.plan" -}}
{{- $catalogue := .Files.Get "files/plans.yaml" | fromYaml -}}
{{- if not $catalogue.plans }}{{ fail (printf "files/plans.yaml (a link to config/plans.yaml) is missing, empty or not YAML %s" (get $catalogue "Error")) }}{{ end -}}
{{- $plan := dict -}}
{{- range $catalogue.plans }}{{ if eq .id $.Values.tenant.plan }}{{ $plan = . }}{{ end }}{{ end -}}
{{- if not $plan -}}
{{- $ids := list }}{{ range $catalogue.plans }}{{ $ids = append $ids .id }}{{ end -}}
{{- fail (printf "tenant.plan %q is not a plan of config/plans.yaml (plans: %s)" .Values.tenant.plan (join ", " $ids)) -}}
{{- end -}}
{{- $k := $plan.kubernetes -}}
{{- $quota := deepCopy $k.resourceQuota -}}
{{- $bytes := $plan.quotas.storageBytes | int64 -}}
{{- if ge $bytes 0 -}}
{{- $gib := 1073741824 -}}
{{- $_ := set $quota "requests.storage" (ternary (printf "%dGi" (div $bytes $gib)) (printf "%d" $bytes) (eq (mod $bytes $gib) 0)) -}}
{{- end -}}
{{- toJson (dict "quota" $quota "limitRange" $k.limitRange "replicas" $k.replicas "autoscaling" $k.autoscaling) -}}
{{- end -}}

{{- define "tessera-tenant.gatewayPeers" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .Values.platform.namespace }}
  podSelector:
    matchLabels:
      app.kubernetes.io/part-of: tessera
      tessera.io/role: gateway
{{- end -}}

{{- define "tessera-tenant.identityPeers" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .Values.platform.namespace }}
  podSelector:
    matchLabels:
      app.kubernetes.io/part-of: tessera
      app.kubernetes.io/name: identity
{{- end -}}

{{/* tenancy's pods (placements and plans), in the platform's namespace. */}}
{{- define "tessera-tenant.tenancyPeers" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .Values.platform.namespace }}
  podSelector:
    matchLabels:
      app.kubernetes.io/part-of: tessera
      app.kubernetes.io/name: tenancy
{{- end -}}

{{- define "tessera-tenant.tenancyUrl" -}}
{{- printf "http://%s-tenancy.%s.svc.cluster.local:%d" .Values.platform.prefix .Values.platform.namespace (first .Values.platform.tenancy.ports | int) -}}
{{- end -}}

{{- define "tessera-tenant.identityUrl" -}}
{{- printf "http://%s-identity.%s.svc.cluster.local:%d" .Values.platform.prefix .Values.platform.namespace (first .Values.platform.identity.ports | int) -}}
{{- end -}}

{{/* Every component block of values.yaml (a map with `kind` and `port`), sorted by name. */}}
{{- define "tessera-tenant.componentNames" -}}
{{- $names := list -}}
{{- range $k, $v := .Values }}{{ if and (kindIs "map" $v) (hasKey $v "kind") (hasKey $v "port") }}{{ $names = append $names $k }}{{ end }}{{ end -}}
{{- toJson $names -}}
{{- end -}}

{{/* A component's values merged over `defaults`. */}}
{{- define "tessera-tenant.values" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $c := deepCopy $root.Values.defaults -}}
{{- /* the plan's sizing replaces the defaults' replicas and autoscaling bounds; a component block still overrides */ -}}
{{- $plan := include "tessera-tenant.plan" $root | fromJson -}}
{{- include "tessera-lib.deepMerge" (list $c (dict "replicas" $plan.replicas "autoscaling" (dict "minReplicas" $plan.autoscaling.minReplicas "maxReplicas" $plan.autoscaling.maxReplicas))) -}}
{{- include "tessera-lib.deepMerge" (list $c (index $root.Values $name)) -}}
{{- if not $c.database.appRole -}}
{{- $_ := set $c.database "appRole" (printf "tessera_%s_%s_app" ($name | snakecase) ($root.Values.tenant.slug | replace "-" "_")) -}}
{{- end -}}
{{- toJson $c -}}
{{- end -}}

{{/*
One component of the tenant's application plane: tessera-lib's "Tessera service" in the tenant's
namespace, reachable from the platform's gateways only. templates/<component>/ call this.
*/}}
{{- define "tessera-tenant.component" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $c := include "tessera-tenant.values" (list $root $name) | fromJson -}}
{{- $fullname := include "tessera-tenant.fullname" (list $root $name) -}}
{{- $scope := dict "name" ($name | kebabcase) "c" $c "fullname" $fullname "component" "application-plane" -}}
{{- include "tessera-tenant.labelScope" (list $root $scope) -}}
{{- $_ := set $scope "secretName" ($c.secrets.existingSecret | default $fullname) -}}
{{- $_ := set $scope "jwksUrl" ($root.Values.platform.auth.jwksUrl | default (printf "%s/.well-known/jwks.json" (include "tessera-tenant.identityOrigin" $root))) -}}
{{- $_ := set $scope "issuer" ($root.Values.platform.auth.issuer | default (include "tessera-tenant.identityOrigin" $root)) -}}
{{- $_ := set $scope "global" $root.Values.global -}}
{{- $_ := set $scope "networkPolicy" $root.Values.networkPolicy -}}
{{- $_ := set $scope "monitoring" $root.Values.monitoring -}}
{{- $es := deepCopy $root.Values.externalSecrets -}}
{{- $_ := set $es "remoteKeyPrefix" ($es.remoteKeyPrefix | default (printf "tessera/tenants/%s" $root.Values.tenant.slug)) -}}
{{- $_ := set $scope "externalSecrets" $es -}}
{{- $_ := set $scope "gatewayPeers" (include "tessera-tenant.gatewayPeers" $root | fromYamlArray) -}}
{{- $_ := set $scope "servicePeers" list -}}
{{- $_ := set $scope "plans" (dict "configMap" "tessera-plans" "checksum" (include "tessera-lib.plansFile" (list $root) | sha256sum)) -}}
{{- include "tessera-lib.component" $scope -}}
{{- end -}}
