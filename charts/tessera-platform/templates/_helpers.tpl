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
{{- if and (eq (index . 1) "tenancy") (include "tessera-platform.helmCompute" $root) -}}
{{- $compute := $root.Values.tenancy.compute -}}
{{- $_ := set $c "env" (deepCopy ($c.env | default dict)) -}}
{{- $_ := set $c.env "TENANCY_COMPUTE_DRIVER" "helm" -}}
{{- $_ := set $c.env "TENANCY_HELM_BIN" $compute.helmBin -}}
{{- $_ := set $c.env "TENANCY_TENANT_CHART" $compute.chart -}}
{{- $_ := set $c.env "TENANCY_HELM_NAMESPACE" $compute.releaseNamespace -}}
{{- $_ := set $c.env "TENANCY_TENANT_CHART_VALUES" (printf "%s/values.yaml" (include "tessera-platform.tenantValuesDir" $root)) -}}
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

{{/* The public https origin of a gateway's Ingress: (list $ "restGateway") -> https://api.example.com, or "" without one. */}}
{{- define "tessera-platform.publicOrigin" -}}
{{- $c := include "tessera-platform.values" . | fromJson -}}
{{- if and $c.enabled $c.ingress.enabled $c.ingress.host -}}
{{- printf "https://%s" $c.ingress.host -}}
{{- end -}}
{{- end -}}

{{/* IDENTITY_SSO_PUBLIC_URL: `identity.sso.publicUrl`, else the REST edge's public origin, else its in-cluster URL. */}}
{{- define "tessera-platform.ssoPublicUrl" -}}
{{- .Values.identity.sso.publicUrl | default (include "tessera-platform.publicOrigin" (list . "restGateway")) | default (include "tessera-platform.serviceUrl" (list . "restGateway")) | trimSuffix "/" -}}
{{- end -}}

{{/* IDENTITY_SSO_FRONTEND_URL: `identity.sso.frontendUrl`, else `/sso/complete` on the GraphQL gateway's public origin, else identity's own default. */}}
{{- define "tessera-platform.ssoFrontendUrl" -}}
{{- $graphql := include "tessera-platform.publicOrigin" (list . "graphqlGateway") -}}
{{- .Values.identity.sso.frontendUrl | default (ternary (printf "%s/sso/complete" $graphql) "" (ne $graphql "")) | default "http://127.0.0.1:5173/sso/complete" -}}
{{- end -}}

{{/*
IDENTITY_WEBAUTHN_ORIGINS (comma-separated): `identity.webauthn.origins`, else the https origins of the
SSO frontend and of the gateways' Ingresses (the pages passkey ceremonies run in), else identity's
local default.
*/}}
{{- define "tessera-platform.webauthnOrigins" -}}
{{- $origins := .Values.identity.webauthn.origins | default list -}}
{{- if not $origins -}}
{{- $front := urlParse (include "tessera-platform.ssoFrontendUrl" .) -}}
{{- if eq $front.scheme "https" }}{{ $origins = append $origins (printf "https://%s" $front.host) }}{{ end -}}
{{- range $gateway := list "graphqlGateway" "restGateway" -}}
{{- with include "tessera-platform.publicOrigin" (list $ $gateway) }}{{ $origins = append $origins . }}{{ end -}}
{{- end -}}
{{- end -}}
{{- join "," (uniq $origins | default (list "http://localhost:4000")) -}}
{{- end -}}

{{/*
IDENTITY_WEBAUTHN_RP_ID: `identity.webauthn.rpId` (every origin must be it or under it), else the
longest domain every origin's host is or lies under (`graphql.tessera.example.com` +
`api.tessera.example.com` -> `tessera.example.com`); fails when they share no domain of two labels
or more (nor are all `localhost`): identity would refuse to start.
*/}}
{{- define "tessera-platform.webauthnRpId" -}}
{{- $origins := include "tessera-platform.webauthnOrigins" . -}}
{{- if .Values.identity.webauthn.rpId -}}
{{- $rpId := .Values.identity.webauthn.rpId -}}
{{- range splitList "," $origins -}}
{{- $host := (urlParse .).hostname -}}
{{- if not (or (eq $host $rpId) (hasSuffix (printf ".%s" $rpId) $host)) -}}
{{- fail (printf "identity.webauthn.origins: %s is not %s nor under it (browsers refuse such a ceremony); set identity.webauthn.origins" . $rpId) -}}
{{- end -}}
{{- end -}}
{{- $rpId -}}
{{- else -}}
{{- $common := list -}}
{{- range $i, $origin := splitList "," $origins -}}
{{- $labels := reverse (splitList "." (urlParse $origin).hostname) -}}
{{- if eq $i 0 -}}
{{- $common = $labels -}}
{{- else -}}
{{- $shared := list -}}
{{- range $j, $label := $labels -}}
{{- if and (lt $j (len $common)) (eq (len $shared) $j) (eq $label (index $common $j)) }}{{ $shared = append $shared $label }}{{ end -}}
{{- end -}}
{{- $common = $shared -}}
{{- end -}}
{{- end -}}
{{- $rpId := reverse $common | join "." -}}
{{- if not (or (ge (len $common) 2) (eq $rpId "localhost")) -}}
{{- fail (printf "identity.webauthn.rpId: the passkey origins (%s) share no domain; set identity.webauthn.rpId and identity.webauthn.origins" $origins) -}}
{{- end -}}
{{- $rpId -}}
{{- end -}}
{{- end -}}

{{/*
The Ingress that takes SCIM 2.0 (`/scim/v2`) from the internet to identity's HTTP port, as the
`ingress` values tessera-lib.ingress reads; `{}` when there is none (off, identity off, or no host).
*/}}
{{- define "tessera-platform.scimIngress" -}}
{{- $i := .Values.identity.scim.ingress -}}
{{- $rest := include "tessera-platform.values" (list . "restGateway") | fromJson -}}
{{- $restIngress := and $rest.enabled $rest.ingress.enabled -}}
{{- $host := $i.host | default (ternary $rest.ingress.host "" $restIngress) -}}
{{- if and .Values.identity.enabled $i.enabled $host -}}
{{- $tls := $i.tls.secretName | default (ternary $rest.ingress.tls.secretName "" (and $restIngress (eq $host $rest.ingress.host))) -}}
{{- toJson (dict "enabled" true "className" $rest.ingress.className "host" $host "path" "/scim/v2" "annotations" ($i.annotations | default dict) "tls" (dict "secretName" $tls)) -}}
{{- else -}}
{}
{{- end -}}
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
{{- if and (eq $name "restGateway") $root.Values.identity.enabled -}}
{{- /* the browser's single sign-on goes through the edge (it forwards /sso/* to identity), also when its own path is narrower */}}
{{- $_ := set $scope "ingressPaths" (list (dict "path" "/sso" "service" $fullname "port" "http")) -}}
{{- end -}}
{{- if and (eq $name "identity") (include "tessera-platform.scimIngress" $root | fromJson) -}}
{{- /* SCIM clients are IdPs on the internet: the ingress controller reaches identity's HTTP port, and only that */}}
{{- $_ := set $scope "publicPorts" (list "http") -}}
{{- end -}}
{{- if and (eq $name "tenancy") (include "tessera-platform.helmCompute" $root) -}}
{{- /* helm and the namespace clean-up reach the API server as tenancy's service account: its token, projected into this one container only (the pod does not automount) */}}
{{- $token := dict "serviceAccountToken" (dict "path" "token" "expirationSeconds" ($root.Values.tenancy.compute.tokenExpirationSeconds | int)) -}}
{{- $ca := dict "configMap" (dict "name" "kube-root-ca.crt" "items" (list (dict "key" "ca.crt" "path" "ca.crt"))) -}}
{{- $ns := dict "downwardAPI" (dict "items" (list (dict "path" "namespace" "fieldRef" (dict "apiVersion" "v1" "fieldPath" "metadata.namespace")))) -}}
{{- $_ := set $scope "extraVolumes" (list
  (dict "name" "kube-api-access" "mountPath" "/var/run/secrets/kubernetes.io/serviceaccount" "source" (dict "projected" (dict "defaultMode" 292 "sources" (list $token $ca $ns))))
  (dict "name" "tenant-chart-values" "mountPath" (include "tessera-platform.tenantValuesDir" $root) "source" (dict "configMap" (dict "name" (include "tessera-platform.fullname" (list $root "tenancy-tenant-values")))))
) -}}
{{- end -}}
{{- include "tessera-lib.component" $scope -}}
{{- end -}}

{{/* Name of the plan catalogue's ConfigMap (templates/plans/), in each namespace a service runs in. */}}
{{- define "tessera-platform.plansConfigMap" -}}
{{- include "tessera-lib.dnsName" (printf "%s-plans" (include "tessera-platform.prefix" .)) -}}
{{- end -}}

{{/* tenancy provisions silo tenants with its `helm` compute driver: "true" or "". */}}
{{- define "tessera-platform.helmCompute" -}}
{{- if and .Values.tenancy.enabled (eq (.Values.tenancy.compute.driver | default "none") "helm") }}true{{ end -}}
{{- end -}}

{{/* Name of tenancy's cluster-scoped compute objects: one per platform release, so it carries the release namespace. */}}
{{- define "tessera-platform.computeClusterName" -}}
{{- include "tessera-lib.dnsName" (printf "%s-tenancy-compute-%s" (include "tessera-platform.prefix" .) .Release.Namespace) -}}
{{- end -}}

{{/* Where tenancy reads the values of every tenant release (TENANCY_TENANT_CHART_VALUES). */}}
{{- define "tessera-platform.tenantValuesDir" -}}/etc/tessera/tenant-chart{{- end -}}

{{/*
The values of every tenant release: what the tenant chart must agree on with this release (where
the platform runs, its object prefix, identity's and tenancy's ports, the issuer, images, cloud,
network peers), then `tenancy.compute.tenantValues` over it. tenancy adds each tenant's own.
*/}}
{{- define "tessera-platform.tenantChartValues" -}}
{{- $g := .Values.global -}}
{{- $np := .Values.networkPolicy -}}
{{- $http := 50072 -}}
{{- range .Values.identity.extraPorts }}{{ if eq .name "http" }}{{ $http = .port | int }}{{ end }}{{ end -}}
{{- $platform := dict "namespace" .Release.Namespace "prefix" (include "tessera-platform.prefix" .) -}}
{{- $_ := set $platform "identity" (dict "ports" (list (.Values.identity.port | int) $http)) -}}
{{- $_ := set $platform "tenancy" (dict "ports" (list (.Values.tenancy.port | int))) -}}
{{- $_ := set $platform "auth" (dict "issuer" $g.auth.issuer) -}}
{{- $global := dict "cloud" $g.cloud "image" (deepCopy $g.image) "imagePullSecrets" $g.imagePullSecrets "logLevel" $g.logLevel "otel" (deepCopy $g.otel) "storageClass" $g.storageClass "aks" (deepCopy $g.aks) -}}
{{- $network := dict "enabled" $np.enabled "dns" (dict "to" $np.dns.to) "postgres" (deepCopy $np.postgres) "nats" (deepCopy $np.nats) "otlp" (deepCopy $np.otlp) -}}
{{- $v := dict "platform" $platform "global" $global "networkPolicy" $network -}}
{{- include "tessera-lib.deepMerge" (list $v (deepCopy (.Values.tenancy.compute.tenantValues | default dict))) -}}
{{- toJson $v -}}
{{- end -}}

{{/*
The RBAC rules helm needs in a tenant's namespace, for exactly the kinds the tenant chart renders
(test/charts/charts.test.ts renders it with every value set and compares): install, upgrade and
roll back are server-side applies (create, patch) after reads, uninstall deletes, `--wait` lists
and watches (and reads a Deployment's ReplicaSets for its status); the driver lists a namespace's
Warning events to say why a rollout failed (kube.ts). No `update`: helm 4 never
replaces these objects. The Prometheus operator's and External Secrets' kinds only when the
tenant values turn them on. test/charts/tenancy-rbac.test.ts runs helm with exactly these.
*/}}
{{- define "tessera-platform.tenantComputeRules" -}}
{{- $tv := include "tessera-platform.tenantChartValues" . | fromJson -}}
{{- $write := list "get" "list" "watch" "create" "patch" "delete" -}}
{{- $rules := list
  (dict "apiGroups" (list "") "resources" (list "configmaps" "limitranges" "resourcequotas" "serviceaccounts" "services") "verbs" $write)
  (dict "apiGroups" (list "apps") "resources" (list "deployments") "verbs" $write)
  (dict "apiGroups" (list "autoscaling") "resources" (list "horizontalpodautoscalers") "verbs" $write)
  (dict "apiGroups" (list "batch") "resources" (list "jobs") "verbs" $write)
  (dict "apiGroups" (list "networking.k8s.io") "resources" (list "networkpolicies") "verbs" $write)
  (dict "apiGroups" (list "policy") "resources" (list "poddisruptionbudgets") "verbs" $write)
  (dict "apiGroups" (list "apps") "resources" (list "replicasets") "verbs" (list "get" "list" "watch"))
  (dict "apiGroups" (list "") "resources" (list "events") "verbs" (list "list"))
-}}
{{- if ($tv.monitoring | default dict).enabled -}}
{{- $rules = append $rules (dict "apiGroups" (list "monitoring.coreos.com") "resources" (list "prometheusrules" "servicemonitors") "verbs" $write) -}}
{{- end -}}
{{- if ($tv.externalSecrets | default dict).enabled -}}
{{- $rules = append $rules (dict "apiGroups" (list "external-secrets.io") "resources" (list "externalsecrets") "verbs" $write) -}}
{{- end -}}
{{- toJson $rules -}}
{{- end -}}
