{{/*
"A Tessera service": everything one deployable needs, from one component scope. The calling chart
builds the scope (see its _helpers.tpl) with, besides the label fields of _labels.tpl:
  c              the component's values merged over the chart's `defaults`
  fullname       name of the component's objects
  namespace      where they go
  secretName     the Secret holding the component's credentials (keys = variable names)
  jwksUrl        identity's JWKS URL (AUTH_JWKS_URL)
  issuer         issuer of internal tokens (AUTH_ISSUER)
  global         the chart's `global` values
  networkPolicy  the chart's `networkPolicy` values
  monitoring     the chart's `monitoring` values
  externalSecrets the chart's `externalSecrets` values
  gatewayPeers   NetworkPolicy peers that select the gateways
  servicePeers   NetworkPolicy peers that select Tessera services allowed to call this one ([] for none)
  plans          (optional) the plan catalogue's ConfigMap: (dict "configMap" <name> "checksum" <sha256>), see _plans.tpl
  extraVolumes   (optional) volumes mounted read-only into the container: a list of
                 (dict "name" <volume> "mountPath" <path> "source" <volume source, e.g. {configMap: {...}}>)
  ingressPaths   (optional, gateways) further paths of its Ingress, before its own: a list of
                 (dict "path" <prefix> "service" <Service name> "port" <port name>)
  publicPorts    (optional, services) names of ports the ingress controller (networkPolicy.ingressController.from)
                 may reach, e.g. a service's own Ingress
*/}}

{{- define "tessera-lib.component" -}}
{{- if .c.enabled }}
{{ include "tessera-lib.serviceAccount" . }}
---
{{ include "tessera-lib.deployment" . }}
---
{{ include "tessera-lib.service" . }}
{{- if .c.podDisruptionBudget.enabled }}
---
{{ include "tessera-lib.pdb" . }}
{{- end }}
{{- if .c.autoscaling.enabled }}
---
{{ include "tessera-lib.hpa" . }}
{{- end }}
{{- if .networkPolicy.enabled }}
---
{{ include "tessera-lib.componentNetworkPolicy" . }}
{{- end }}
{{- if and .c.database.enabled .c.migrations.enabled }}
---
{{ include "tessera-lib.migrationServiceAccount" . }}
---
{{ include "tessera-lib.migrationJob" . }}
{{- end }}
{{- if .externalSecrets.enabled }}
---
{{ include "tessera-lib.externalSecret" . }}
{{- end }}
{{- if .monitoring.enabled }}
---
{{ include "tessera-lib.serviceMonitor" . }}
{{- end }}
{{- if and (eq .c.kind "gateway") .c.ingress.enabled }}
---
{{ include "tessera-lib.ingress" . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Object metadata of the component (labels, namespace). */}}
{{- define "tessera-lib.metadata" -}}
name: {{ .fullname }}
namespace: {{ .namespace }}
labels:
  {{- include "tessera-lib.labels" . | nindent 2 }}
{{- end -}}

{{- define "tessera-lib.image" -}}
{{- $registry := .global.image.registry -}}
{{- $repo := .c.image.repository -}}
{{- if $registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" $registry) $repo }}{{ end -}}
{{- $tag := .c.image.tag | default .global.image.tag | default .root.Chart.AppVersion -}}
{{- if .c.image.digest -}}
{{ printf "%s:%s@%s" $repo $tag .c.image.digest }}
{{- else -}}
{{ printf "%s:%s" $repo $tag }}
{{- end -}}
{{- end -}}

{{/* Pod Security "restricted", plus a high non-root UID. */}}
{{- define "tessera-lib.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .c.securityContext.runAsUser | int }}
runAsGroup: {{ .c.securityContext.runAsGroup | int }}
fsGroup: {{ .c.securityContext.runAsGroup | int }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "tessera-lib.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ .c.securityContext.runAsUser | int }}
runAsGroup: {{ .c.securityContext.runAsGroup | int }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Cloud workload identity: the pod label AKS's webhook looks for. */}}
{{- define "tessera-lib.cloudPodLabels" -}}
{{- if eq .global.cloud "aks" -}}
azure.workload.identity/use: "true"
{{- end -}}
{{- end -}}

{{/* Service account annotations: IRSA on EKS, workload identity on AKS, then the component's own. */}}
{{- define "tessera-lib.serviceAccountAnnotations" -}}
{{- $a := dict -}}
{{- if and (eq .global.cloud "eks") .global.eks.roleArnPrefix -}}
{{- $_ := set $a "eks.amazonaws.com/role-arn" (printf "%s%s" .global.eks.roleArnPrefix .name) -}}
{{- $_ := set $a "eks.amazonaws.com/sts-regional-endpoints" "true" -}}
{{- end -}}
{{- if and (eq .global.cloud "aks") .global.aks.clientId -}}
{{- $_ := set $a "azure.workload.identity/client-id" .global.aks.clientId -}}
{{- if .global.aks.tenantId }}{{ $_ := set $a "azure.workload.identity/tenant-id" .global.aks.tenantId }}{{ end -}}
{{- end -}}
{{- range $k, $v := .c.serviceAccount.annotations }}{{ $_ := set $a $k $v }}{{ end -}}
{{- if $a }}{{ toYaml $a }}{{ end -}}
{{- end -}}

{{- define "tessera-lib.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "tessera-lib.metadata" . | nindent 2 }}
  {{- with include "tessera-lib.serviceAccountAnnotations" . }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end -}}

{{/* A variable read from the component's Secret; the key is the variable's name. */}}
{{- define "tessera-lib.secretEnv" -}}
- name: {{ .var }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .var }}
{{- end -}}

{{/*
The process environment: exactly the variables of the kit's env contract the component uses
(platform/src/service/env.ts), its extra ports, its secrets and its own `env`. The chart ↔ code
contract test compares this list with each deployable's config schema.
*/}}
{{- define "tessera-lib.env" -}}
- name: HOST
  value: "0.0.0.0"
- name: PORT
  value: {{ .c.port | int | quote }}
- name: METRICS_HOST
  value: "0.0.0.0"
- name: METRICS_PORT
  value: {{ .c.metricsPort | int | quote }}
- name: LOG_LEVEL
  value: {{ .c.logLevel | default .global.logLevel | quote }}
- name: SHUTDOWN_GRACE_MS
  value: {{ mul (.c.drain.shutdownGraceSeconds | int) 1000 | quote }}
{{- if .plans }}
- name: TESSERA_PLANS_FILE
  value: {{ printf "%s/plans.yaml" (include "tessera-lib.plansDir" .) | quote }}
{{- end }}
{{- if .c.auth.verifyTokens }}
- name: AUTH_JWKS_URL
  value: {{ .jwksUrl | quote }}
- name: AUTH_ISSUER
  value: {{ .issuer | quote }}
{{- end }}
{{- with .global.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if .c.database.enabled }}
{{ include "tessera-lib.secretEnv" (dict "var" "DATABASE_URL" "secretName" .secretName) }}
{{ include "tessera-lib.secretEnv" (dict "var" "OUTBOX_RELAY_DATABASE_URL" "secretName" .secretName) }}
- name: DB_POOL_MAX
  value: {{ .c.database.poolMax | int | quote }}
- name: DB_STATEMENT_TIMEOUT_MS
  value: {{ .c.database.statementTimeoutMs | int | quote }}
{{- end }}
{{- if .c.nats.enabled }}
{{ include "tessera-lib.secretEnv" (dict "var" "NATS_URL" "secretName" .secretName) }}
{{- end }}
{{- range .c.extraPorts }}
- name: {{ .env }}
  value: {{ .port | int | quote }}
{{- end }}
{{- range .c.secretEnv }}
{{ include "tessera-lib.secretEnv" (dict "var" . "secretName" $.secretName) }}
{{- end }}
{{- range $k, $v := .c.env }}
- name: {{ $k }}
  value: {{ tpl (toString $v) $.root | quote }}
{{- end }}
{{- end -}}

{{- define "tessera-lib.probes" -}}
{{- if eq .c.kind "gateway" }}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ .c.probes.startup.periodSeconds | int }}
  failureThreshold: {{ .c.probes.startup.failureThreshold | int }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ .c.probes.liveness.periodSeconds | int }}
  timeoutSeconds: {{ .c.probes.liveness.timeoutSeconds | int }}
  failureThreshold: {{ .c.probes.liveness.failureThreshold | int }}
readinessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ .c.probes.readiness.periodSeconds | int }}
  timeoutSeconds: {{ .c.probes.readiness.timeoutSeconds | int }}
  failureThreshold: {{ .c.probes.readiness.failureThreshold | int }}
{{- else }}
startupProbe:
  grpc:
    port: {{ .c.port | int }}
    service: liveness
  periodSeconds: {{ .c.probes.startup.periodSeconds | int }}
  failureThreshold: {{ .c.probes.startup.failureThreshold | int }}
livenessProbe:
  grpc:
    port: {{ .c.port | int }}
    service: liveness
  periodSeconds: {{ .c.probes.liveness.periodSeconds | int }}
  timeoutSeconds: {{ .c.probes.liveness.timeoutSeconds | int }}
  failureThreshold: {{ .c.probes.liveness.failureThreshold | int }}
readinessProbe:
  grpc:
    port: {{ .c.port | int }}
    service: readiness
  periodSeconds: {{ .c.probes.readiness.periodSeconds | int }}
  timeoutSeconds: {{ .c.probes.readiness.timeoutSeconds | int }}
  failureThreshold: {{ .c.probes.readiness.failureThreshold | int }}
{{- end }}
{{- end -}}

{{- define "tessera-lib.scheduling" -}}
{{- with .c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "tessera-lib.deployment" -}}
{{- $preStop := .c.drain.preStopSeconds | int -}}
{{- $grace := .c.drain.shutdownGraceSeconds | int -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  {{- include "tessera-lib.metadata" . | nindent 2 }}
spec:
  {{- if not .c.autoscaling.enabled }}
  replicas: {{ .c.replicas | int }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "tessera-lib.selectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- include "tessera-lib.labels" . | nindent 8 }}
        tessera.io/role: {{ .c.kind }}
        {{- with include "tessera-lib.cloudPodLabels" . }}{{ . | nindent 8 }}{{- end }}
        {{- with .c.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- $annotations := deepCopy (.c.podAnnotations | default dict) }}
      {{- if .plans }}{{ $_ := set $annotations "checksum/plans" .plans.checksum }}{{ end }}
      {{- with $annotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ .fullname }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext:
        {{- include "tessera-lib.podSecurityContext" . | nindent 8 }}
      # preStop sleep (endpoints removed while still serving) + SHUTDOWN_GRACE_MS (drain) + margin (hooks, exit)
      terminationGracePeriodSeconds: {{ add $preStop $grace (.c.drain.marginSeconds | int) }}
      {{- if .c.topologySpread.enabled }}
      topologySpreadConstraints:
        {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
        - maxSkew: 1
          topologyKey: {{ . }}
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "tessera-lib.selectorLabels" $ | nindent 14 }}
        {{- end }}
      {{- end }}
      {{- with include "tessera-lib.scheduling" . | trim }}{{ . | nindent 6 }}{{- end }}
      containers:
        - name: {{ .name }}
          image: {{ include "tessera-lib.image" . | quote }}
          imagePullPolicy: {{ .c.image.pullPolicy | default .global.image.pullPolicy }}
          command: ["node", {{ .c.main | quote }}]
          ports:
            {{- if eq .c.kind "gateway" }}
            - name: http
              containerPort: {{ .c.port | int }}
              protocol: TCP
            {{- else }}
            - name: grpc
              containerPort: {{ .c.port | int }}
              protocol: TCP
            {{- end }}
            - name: metrics
              containerPort: {{ .c.metricsPort | int }}
              protocol: TCP
            {{- range .c.extraPorts }}
            - name: {{ .name }}
              containerPort: {{ .port | int }}
              protocol: TCP
            {{- end }}
          env:
            {{- include "tessera-lib.env" . | nindent 12 }}
          {{- include "tessera-lib.probes" . | trim | nindent 10 }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ $preStop }}
          resources:
            {{- toYaml .c.resources | nindent 12 }}
          securityContext:
            {{- include "tessera-lib.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if .plans }}
            - name: plans
              mountPath: {{ include "tessera-lib.plansDir" . }}
              readOnly: true
            {{- end }}
            {{- range .extraVolumes }}
            - name: {{ .name }}
              mountPath: {{ .mountPath }}
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ .c.tmpSizeLimit | quote }}
        {{- if .plans }}
        - name: plans
          configMap:
            name: {{ .plans.configMap }}
        {{- end }}
        {{- range .extraVolumes }}
        - name: {{ .name }}
          {{- toYaml .source | nindent 10 }}
        {{- end }}
{{- end -}}

{{- define "tessera-lib.service" -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "tessera-lib.metadata" . | nindent 2 }}
spec:
  type: ClusterIP
  selector:
    {{- include "tessera-lib.selectorLabels" . | nindent 4 }}
  ports:
    {{- if eq .c.kind "gateway" }}
    - name: http
      port: {{ .c.port | int }}
      targetPort: http
      protocol: TCP
      appProtocol: http
    {{- else }}
    - name: grpc
      port: {{ .c.port | int }}
      targetPort: grpc
      protocol: TCP
      appProtocol: kubernetes.io/h2c
    {{- end }}
    - name: metrics
      port: {{ .c.metricsPort | int }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
    {{- range .c.extraPorts }}
    - name: {{ .name }}
      port: {{ .port | int }}
      targetPort: {{ .name }}
      protocol: TCP
      appProtocol: http
    {{- end }}
{{- end -}}

{{- define "tessera-lib.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "tessera-lib.metadata" . | nindent 2 }}
spec:
  maxUnavailable: {{ .c.podDisruptionBudget.maxUnavailable }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "tessera-lib.selectorLabels" . | nindent 6 }}
{{- end -}}

{{- define "tessera-lib.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  {{- include "tessera-lib.metadata" . | nindent 2 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .fullname }}
  minReplicas: {{ .c.autoscaling.minReplicas | int }}
  maxReplicas: {{ .c.autoscaling.maxReplicas | int }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .c.autoscaling.targetCPUUtilizationPercentage | int }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
{{- end -}}

{{/*
Ingress to one component: its callers on its serving ports, Prometheus on the metrics port.
Egress is governed by the namespace's policies (tessera-lib.namespacePolicies).
*/}}
{{- define "tessera-lib.componentNetworkPolicy" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- include "tessera-lib.metadata" . | nindent 2 }}
spec:
  podSelector:
    matchLabels:
      {{- include "tessera-lib.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress]
  ingress:
    {{- if eq .c.kind "gateway" }}
    - ports:
        - port: http
          protocol: TCP
      {{- with .networkPolicy.ingressController.from }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- else }}
    - ports:
        - port: grpc
          protocol: TCP
        {{- range .c.extraPorts }}
        - port: {{ .name }}
          protocol: TCP
        {{- end }}
      from:
        {{- toYaml .gatewayPeers | nindent 8 }}
        {{- with .servicePeers }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with .c.networkPolicy.extraFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    {{- with .publicPorts }}
    - ports:
        {{- range . }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
      {{- with $.networkPolicy.ingressController.from }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- end }}
    {{- if .monitoring.enabled }}
    - ports:
        - port: metrics
          protocol: TCP
      from:
        {{- toYaml .monitoring.prometheusPeers | nindent 8 }}
    {{- end }}
{{- end -}}

{{- define "tessera-lib.hookMetadata" -}}
{{- $scope := index . 0 -}}
name: {{ index . 1 }}
namespace: {{ $scope.namespace }}
labels:
  {{- include "tessera-lib.labels" (dict "root" $scope.root "name" $scope.name "component" "migration" "tenant" $scope.tenant "tier" $scope.tier "plane" $scope.plane) | nindent 2 }}
annotations:
  helm.sh/hook: pre-install,pre-upgrade
  helm.sh/hook-weight: {{ index . 2 | quote }}
  helm.sh/hook-delete-policy: {{ index . 3 }}
{{- end -}}

{{/*
Labels of a hook Job's pods: (list $scope "migrate"). Their name is `<component>-<suffix>`, not the
component's: the component's Service, PodDisruptionBudget and Deployment select its name and instance,
and a Job's pods must not be among them (the Service would route calls to a migration, and a PDB
that matches pods owned by a Job cannot compute its budget: it allows no eviction at all).
*/}}
{{- define "tessera-lib.hookPodLabels" -}}
{{- $scope := index . 0 -}}
{{- $component := ternary "migration" (index . 1) (eq (index . 1) "migrate") -}}
{{- include "tessera-lib.labels" (dict "root" $scope.root "name" (printf "%s-%s" $scope.name (index . 1)) "component" $component "tenant" $scope.tenant "tier" $scope.tier "plane" $scope.plane) }}
{{- end -}}

{{/* The migration Job runs before the Deployment exists, so it has its own (hook) ServiceAccount. */}}
{{- define "tessera-lib.migrationServiceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "tessera-lib.hookMetadata" (list . (printf "%s-migrate" .fullname | trunc 63 | trimSuffix "-") "-10" "before-hook-creation,hook-succeeded") | nindent 2 }}
automountServiceAccountToken: false
{{- end -}}

{{/*
The component's migrations (platform/src/service/migrate.ts) as a pre-install/pre-upgrade hook:
the owner role applies them, granting to the app role; the Deployment rolls only after it succeeded.
*/}}
{{- define "tessera-lib.migrationJob" -}}
{{- $m := .c.migrations -}}
apiVersion: batch/v1
kind: Job
metadata:
  {{- include "tessera-lib.hookMetadata" (list . (printf "%s-migrate" .fullname | trunc 63 | trimSuffix "-") "-5" "before-hook-creation") | nindent 2 }}
spec:
  backoffLimit: {{ $m.backoffLimit | int }}
  activeDeadlineSeconds: {{ $m.activeDeadlineSeconds | int }}
  ttlSecondsAfterFinished: {{ $m.ttlSecondsAfterFinished | int }}
  template:
    metadata:
      labels:
        {{- include "tessera-lib.hookPodLabels" (list . "migrate") | nindent 8 }}
        tessera.io/role: migration
        {{- with include "tessera-lib.cloudPodLabels" . }}{{ . | nindent 8 }}{{- end }}
    spec:
      serviceAccountName: {{ printf "%s-migrate" .fullname | trunc 63 | trimSuffix "-" }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      restartPolicy: Never
      securityContext:
        {{- include "tessera-lib.podSecurityContext" . | nindent 8 }}
      {{- with include "tessera-lib.scheduling" . | trim }}{{ . | nindent 6 }}{{- end }}
      containers:
        - name: migrate
          image: {{ include "tessera-lib.image" . | quote }}
          imagePullPolicy: {{ .c.image.pullPolicy | default .global.image.pullPolicy }}
          command: ["node", {{ .c.migrate | quote }}]
          env:
            {{- include "tessera-lib.secretEnv" (dict "var" "MIGRATION_DATABASE_URL" "secretName" .secretName) | nindent 12 }}
            - name: DATABASE_APP_ROLE
              value: {{ .c.database.appRole | quote }}
            - name: LOG_LEVEL
              value: {{ .c.logLevel | default .global.logLevel | quote }}
          resources:
            {{- toYaml $m.resources | nindent 12 }}
          securityContext:
            {{- include "tessera-lib.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ .c.tmpSizeLimit | quote }}
{{- end -}}

{{/* The variables the component's Secret must hold (its keys), its seed Job's included. */}}
{{- define "tessera-lib.secretKeys" -}}
{{- $keys := list -}}
{{- if .c.database.enabled }}{{ $keys = concat $keys (list "DATABASE_URL" "OUTBOX_RELAY_DATABASE_URL") }}{{ if .c.migrations.enabled }}{{ $keys = append $keys "MIGRATION_DATABASE_URL" }}{{ end }}{{ end -}}
{{- if .c.nats.enabled }}{{ $keys = append $keys "NATS_URL" }}{{ end -}}
{{- $keys = concat $keys .c.secretEnv -}}
{{- if and .c.seed .c.seed.enabled }}{{ $keys = concat $keys (.c.seed.secretEnv | default list) }}{{ end -}}
{{- toJson $keys -}}
{{- end -}}

{{/*
External Secrets: the component's Secret synced from the store, one property per variable, under
`<remoteKeyPrefix>/<component>`. A hook (before the migration Job, which reads it); Orphan and
Retain keep the Secret while the hook object is replaced on upgrade.
*/}}
{{- define "tessera-lib.externalSecret" -}}
{{- $es := .externalSecrets -}}
{{- $keys := include "tessera-lib.secretKeys" . | fromJsonArray -}}
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {{ .secretName }}
  namespace: {{ .namespace }}
  labels:
    {{- include "tessera-lib.labels" . | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-20"
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  refreshInterval: {{ $es.refreshInterval | quote }}
  secretStoreRef:
    kind: {{ $es.secretStoreRef.kind }}
    name: {{ $es.secretStoreRef.name }}
  target:
    name: {{ .secretName }}
    creationPolicy: Orphan
    deletionPolicy: Retain
    template:
      metadata:
        labels:
          {{- include "tessera-lib.labels" . | nindent 10 }}
  data:
    {{- range $keys }}
    - secretKey: {{ . }}
      remoteRef:
        key: {{ printf "%s/%s" (trimSuffix "/" $.externalSecrets.remoteKeyPrefix) $.name | quote }}
        property: {{ . }}
    {{- end }}
{{- end -}}

{{- define "tessera-lib.serviceMonitor" -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ .fullname }}
  namespace: {{ .namespace }}
  labels:
    {{- include "tessera-lib.labels" . | nindent 4 }}
    {{- with .monitoring.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "tessera-lib.selectorLabels" . | nindent 6 }}
  namespaceSelector:
    matchNames: [{{ .namespace | quote }}]
  endpoints:
    - port: metrics
      path: /metrics
      scheme: http
      interval: {{ .monitoring.serviceMonitor.interval }}
      scrapeTimeout: {{ .monitoring.serviceMonitor.scrapeTimeout }}
{{- end -}}

{{- define "tessera-lib.ingress" -}}
{{- $i := .c.ingress -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  {{- include "tessera-lib.metadata" . | nindent 2 }}
  {{- $ann := merge (dict) ($i.annotations | default dict) (.global.ingress.annotations | default dict) }}
  {{- with $ann }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $i.className | default .global.ingress.className }}
  ingressClassName: {{ . | quote }}
  {{- end }}
  {{- if $i.tls.secretName }}
  tls:
    - hosts: [{{ $i.host | quote }}]
      secretName: {{ $i.tls.secretName }}
  {{- end }}
  rules:
    - host: {{ $i.host | quote }}
      http:
        paths:
          {{- range .ingressPaths }}
          - path: {{ .path }}
            pathType: Prefix
            backend:
              service:
                name: {{ .service }}
                port:
                  name: {{ .port }}
          {{- end }}
          - path: {{ $i.path | default "/" }}
            pathType: Prefix
            backend:
              service:
                name: {{ .fullname }}
                port:
                  name: http
{{- end -}}
