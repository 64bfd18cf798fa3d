{{/* Names and labels of the platform release. The workload templates come from tessera-lib. */}}

{{/* Prefix of every object's name: namePrefix, or the release name. */}}
{{- define "tessera-platform.prefix" -}}
{{- .Values.namePrefix | default .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's objects: (list $ "identity") -> tessera-identity. */}}
{{- define "tessera-platform.fullname" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 | kebabcase -}}
{{- include "tessera-lib.dnsName" (printf "%s-%s" (include "tessera-platform.prefix" $root) $name) -}}
{{- end -}}

{{/*
A component's values merged over `defaults`: (list $ "identity"). identity's `seed` gains `clients`
(tessera-platform.seedClients) and, in `secretEnv`, the keys of the clients it reads from its own Secret.
*/}}
{{- define "tessera-platform.values" -}}
{{- $root := index . 0 -}}
{{- $c := deepCopy $root.Values.defaults -}}
{{- include "tessera-lib.deepMerge" (list $c (index $root.Values (index . 1))) -}}
{{- if and (eq (index . 1) "identity") $c.seed $c.seed.enabled -}}
{{- $clients := include "tessera-platform.seedClients" $root | fromJsonArray -}}
{{- /* a copy: the merge shares maps with .Values, which must not change */}}
{{- $_ := set $c "seed" (deepCopy $c.seed) -}}
{{- $_ := set $c.seed "clients" $clients -}}
{{- range $clients }}{{ if not .secret }}{{ $_ := set $c.seed "secretEnv" (append $c.seed.secretEnv .var) }}{{ end }}{{ end -}}
{{- end -}}
{{- toJson $c -}}
{{- end -}}

{{/*
The service credentials identity's seed creates: one per enabled component that reads
SERVICE_CLIENT_SECRET (client id: its env SERVICE_CLIENT_ID), as {id, var, secret, roles}. `secret`
is the component's own Secret when it lives in identity's namespace; a Job cannot read another
namespace's Secret, so for the others it is "" and identity's Secret holds a copy under `var`.
*/}}
{{- define "tessera-platform.seedClients" -}}
{{- $root := . -}}
{{- $identityNs := include "tessera-platform.namespace" (list $root "identity") -}}
{{- $clients := list -}}
{{- range $name := include "tessera-platform.componentNames" $root | fromJsonArray -}}
{{- $v := index $root.Values $name -}}
{{- if and $v.enabled (has "SERVICE_CLIENT_SECRET" ($v.secretEnv | default list)) -}}
{{- $id := ($v.env | default dict).SERVICE_CLIENT_ID -}}
{{- if not $id }}{{ fail (printf "%s.env.SERVICE_CLIENT_ID is needed: identity's seed gives that client id its credential" $name) }}{{ end -}}
{{- $secret := "" -}}
{{- if eq (include "tessera-platform.namespace" (list $root $name)) $identityNs -}}
{{- $secret = (($v.secrets | default dict).existingSecret | default (include "tessera-platform.fullname" (list $root $name))) -}}
{{- end -}}
{{- $roles := $v.serviceRoles | default (ternary (list "edge" "service") (list "service") (eq $v.kind "gateway")) -}}
{{- $clients = append $clients (dict "id" $id "var" (printf "%s_SERVICE_CLIENT_SECRET" ($name | snakecase | upper)) "secret" $secret "roles" $roles) -}}
{{- end -}}
{{- end -}}
{{- toJson $clients -}}
{{- end -}}

{{/* The namespace a component runs in: the pool namespace for the application plane. */}}
{{- define "tessera-platform.namespace" -}}
{{- $root := index . 0 -}}
{{- if eq (index $root.Values (index . 1)).plane "application" -}}
{{- $root.Values.pool.namespace -}}
{{- else -}}
{{- $root.Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* In-cluster URL of a component: (list $ "tenancy") -> http://tessera-tenancy.<ns>.svc.cluster.local:50061 */}}
{{- define "tessera-platform.serviceUrl" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- printf "http://%s.%s.svc.cluster.local:%d" (include "tessera-platform.fullname" (list $root $name)) (include "tessera-platform.namespace" (list $root $name)) ((index $root.Values $name).port | int) -}}
{{- end -}}

{{/* identity's HTTP (JWKS) origin. */}}
{{- define "tessera-platform.identityOrigin" -}}
{{- $http := 50072 -}}
{{- range .Values.identity.extraPorts }}{{ if eq .name "http" }}{{ $http = .port | int }}{{ end }}{{ end -}}
{{- printf "http://%s.%s.svc.cluster.local:%d" (include "tessera-platform.fullname" (list . "identity")) .Release.Namespace $http -}}
{{- end -}}

{{- define "tessera-platform.issuer" -}}
{{- .Values.global.auth.issuer | default (include "tessera-platform.identityOrigin" .) -}}
{{- end -}}

{{- define "tessera-platform.jwksUrl" -}}
{{- printf "%s/.well-known/jwks.json" (include "tessera-platform.identityOrigin" .) -}}
{{- end -}}

{{/* Cost-allocation labels: the tier of what a plane serves. */}}
{{- define "tessera-platform.tier" -}}
{{- if eq . "application" }}pool{{ else }}shared{{ end -}}
{{- end -}}

{{- define "tessera-platform.componentLabel" -}}
{{- if eq . "edge" }}edge{{ else }}{{ printf "%s-plane" . }}{{ end -}}
{{- end -}}

{{/* Peers: the gateways (release namespace). */}}
{{- define "tessera-platform.gatewayPeers" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .Release.Namespace }}
  podSelector:
    matchLabels:
      app.kubernetes.io/part-of: tessera
      tessera.io/role: gateway
{{- end -}}

{{/* Peers: Tessera services anywhere (release namespace, pool, tenant namespaces labelled part-of=tessera). */}}
{{- define "tessera-platform.servicePeers" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .Release.Namespace }}
  podSelector:
    matchLabels:
      app.kubernetes.io/part-of: tessera
      tessera.io/role: service
- namespaceSelector:
    matchLabels:
      app.kubernetes.io/part-of: tessera
  podSelector:
    matchLabels:
      app.kubernetes.io/part-of: tessera
      tessera.io/role: service
{{- end -}}

{{/* Serving ports (gRPC/HTTP and extra ports) of the enabled components of some planes: (list $ "control" "edge"). */}}
{{- define "tessera-platform.servingPorts" -}}
{{- $root := index . 0 -}}
{{- $planes := rest . -}}
{{- $ports := list -}}
{{- range $name := include "tessera-platform.componentNames" $root | fromJsonArray -}}
{{- $v := index $root.Values $name -}}
{{- if and $v.enabled (has $v.plane $planes) -}}
{{- $ports = append $ports (dict "port" ($v.port | int)) -}}
{{- range $v.extraPorts }}{{ $ports = append $ports (dict "port" (.port | int)) }}{{ end -}}
{{- end -}}
{{- end -}}
{{- toJson $ports -}}
{{- end -}}

{{/* Every component block of values.yaml (a map with `kind` and `port`), sorted by name. */}}
{{- define "tessera-platform.componentNames" -}}
{{- $names := list -}}
{{- range $k, $v := .Values }}{{ if and (kindIs "map" $v) (hasKey $v "kind") (hasKey $v "port") }}{{ $names = append $names $k }}{{ end }}{{ end -}}
{{- toJson $names -}}
{{- end -}}

{{/*
One component: its values merged over `defaults`, its scope, and tessera-lib's "Tessera service"
(ServiceAccount, Deployment, Service, PDB, HPA, NetworkPolicy, migration Job, ExternalSecret,
ServiceMonitor, Ingress). templates/<component>/ call this with (dict "root" $ "name" "<component>").
*/}}
{{- define "tessera-platform.component" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $c := include "tessera-platform.values" (list $root $name) | fromJson -}}
{{- $plane := $c.plane -}}
{{- $fullname := include "tessera-platform.fullname" (list $root $name) -}}
{{- $scope := dict "root" $root "name" ($name | kebabcase) "c" $c "fullname" $fullname -}}
{{- $_ := set $scope "component" (include "tessera-platform.componentLabel" $plane) -}}
{{- $_ := set $scope "plane" $plane -}}
{{- $_ := set $scope "tenant" $root.Values.global.costLabels.tenant -}}
{{- $_ := set $scope "tier" (include "tessera-platform.tier" $plane) -}}
{{- $_ := set $scope "namespace" (include "tessera-platform.namespace" (list $root $name)) -}}
{{- $_ := set $scope "secretName" ($c.secrets.existingSecret | default $fullname) -}}
{{- $_ := set $scope "jwksUrl" (include "tessera-platform.jwksUrl" $root) -}}
{{- $_ := set $scope "issuer" (include "tessera-platform.issuer" $root) -}}
{{- $_ := set $scope "global" $root.Values.global -}}
{{- $_ := set $scope "networkPolicy" $root.Values.networkPolicy -}}
{{- $_ := set $scope "monitoring" $root.Values.monitoring -}}
{{- $_ := set $scope "externalSecrets" $root.Values.externalSecrets -}}
{{- $_ := set $scope "gatewayPeers" (include "tessera-platform.gatewayPeers" $root | fromYamlArray) -}}
{{- $_ := set $scope "servicePeers" (ternary (list) (include "tessera-platform.servicePeers" $root | fromYamlArray) (eq $plane "application")) -}}
{{- $_ := set $scope "plans" (dict "configMap" (include "tessera-platform.plansConfigMap" $root) "checksum" (include "tessera-lib.plansFile" (list $root) | sha256sum)) -}}
{{- include "tessera-lib.component" $scope -}}
{{- end -}}

{{/* Name of the plan catalogue's ConfigMap (templates/plans/), in each namespace a service runs in. */}}
{{- define "tessera-platform.plansConfigMap" -}}
{{- include "tessera-lib.dnsName" (printf "%s-plans" (include "tessera-platform.prefix" .)) -}}
{{- end -}}
