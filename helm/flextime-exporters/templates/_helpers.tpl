{{/* Chart name, release-qualified name, labels. */}}
{{- define "flextime-exporters.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "flextime-exporters.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of a component's objects: (dict "root" $ "component" "node") */}}
{{- define "flextime-exporters.componentName" -}}
{{- printf "%s-%s" (include "flextime-exporters.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "flextime-exporters.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flextime-exporters.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "flextime-exporters.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "flextime-exporters.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: flextime-exporters
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The release's namespace, or namespaceOverride (every namespaced object of the chart). */}}
{{- define "flextime-exporters.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{/* An image reference: (dict "root" $ "image" <image values>); global.imageRegistry wins over image.registry. */}}
{{- define "flextime-exporters.imageRef" -}}
{{- $img := .image -}}
{{- $registry := default $img.registry (dig "imageRegistry" "" (default (dict) .root.Values.global)) -}}
{{- $repo := $img.repository -}}
{{- if $registry }}{{ $repo = printf "%s/%s" $registry $img.repository }}{{ end -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{- define "flextime-exporters.image" -}}
{{- include "flextime-exporters.imageRef" (dict "root" . "image" .Values.image) -}}
{{- end -}}

{{/* imagePullSecrets and global.imagePullSecrets (names or {name: ...}), deduplicated. */}}
{{- define "flextime-exporters.imagePullSecrets" -}}
{{- $names := list -}}
{{- range concat (default (list) .Values.imagePullSecrets) (dig "imagePullSecrets" (list) (default (dict) .Values.global)) -}}
{{- if kindIs "string" . }}{{ $names = append $names . }}{{ else }}{{ $names = append $names (dig "name" "" .) }}{{ end -}}
{{- end -}}
{{- range $names | compact | uniq }}
- name: {{ . }}
{{- end -}}
{{- end -}}

{{/* A component's pod security context: its own when set, else the shared one. */}}
{{- define "flextime-exporters.podSecurityContext" -}}
{{- $c := index .root.Values .component -}}
{{- toYaml (default .root.Values.podSecurityContext $c.podSecurityContext) -}}
{{- end -}}

{{- define "flextime-exporters.securityContext" -}}
{{- $c := index .root.Values .component -}}
{{- toYaml (default .root.Values.securityContext $c.securityContext) -}}
{{- end -}}

{{/* Scheduling and pod-level settings shared by every component's pod spec. */}}
{{- define "flextime-exporters.podCommon" -}}
{{- $c := index .root.Values .component -}}
automountServiceAccountToken: {{ default false .automountToken }}
{{- with .serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with include "flextime-exporters.imagePullSecrets" .root | trim }}
imagePullSecrets:
  {{- . | nindent 2 }}
{{- end }}
{{- with $c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- include "flextime-exporters.podSecurityContext" . | nindent 2 }}
{{- with $c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default .defaultAffinity $c.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.initContainers }}
initContainers:
  {{- tpl (toYaml .) $.root | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A component's extraVolumeMounts, under a container's volumeMounts. */}}
{{- define "flextime-exporters.extraVolumeMounts" -}}
{{- $c := index .root.Values .component -}}
{{- with $c.extraVolumeMounts -}}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A component's extraContainers, after its exporter container (values may use templates). */}}
{{- define "flextime-exporters.extraContainers" -}}
{{- $c := index .root.Values .component -}}
{{- with $c.extraContainers -}}
{{ tpl (toYaml .) $.root }}
{{- end }}
{{- end -}}

{{/* A component's extraVolumes, under the pod's volumes. */}}
{{- define "flextime-exporters.extraVolumes" -}}
{{- $c := index .root.Values .component -}}
{{- with $c.extraVolumes -}}
{{ tpl (toYaml .) $.root }}
{{- end }}
{{- end -}}

{{/* A component's Service annotations (service.annotations). */}}
{{- define "flextime-exporters.serviceAnnotations" -}}
{{- $c := index .root.Values .component -}}
{{- with dig "service" "annotations" (dict) $c }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod labels and annotations (plus any extra annotations given as .annotations). */}}
{{- define "flextime-exporters.podMetadata" -}}
{{- $c := index .root.Values .component -}}
labels:
  {{- include "flextime-exporters.selectorLabels" . | nindent 2 }}
  {{- with $c.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $ann := merge (dict) (default (dict) .annotations) (default (dict) $c.podAnnotations) }}
{{- with $ann }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The container's probes on /live and /ready of the named port. */}}
{{- define "flextime-exporters.probes" -}}
livenessProbe:
  httpGet:
    path: /live
    port: {{ .port }}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /ready
    port: {{ .port }}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}

{{/* host:port of a multi-target entry: {host, port} with a default port. */}}
{{- define "flextime-exporters.hostPort" -}}
{{- $host := .target.host -}}
{{- if contains ":" $host }}{{ $host = printf "[%s]" $host }}{{ end -}}
{{- printf "%s:%v" $host (default .defaultPort .target.port) -}}
{{- end -}}

{{/*
flextime-exporters.sidecar: an exporter container for another chart's PostgreSQL or Redis pod.
Add this chart as a dependency (see README.md), then in your pod's containers:

  {{- include "flextime-exporters.sidecar" (dict "exporter" "postgres"
        "passwordSecret" (dict "name" "my-db" "key" "password")) | nindent 8 }}

Parameters (a dict):
  exporter         postgres | redis (required)
  image            image reference (default: ghcr.io/flextime/flextime-exporters:<version below>)
  imagePullPolicy  default IfNotPresent
  name             container name (default <exporter>-exporter)
  port             default 9187 / 9121
  address          postgres: DATA_SOURCE_URI (default localhost:5432/postgres?sslmode=disable);
                   redis: REDIS_ADDR (default redis://localhost:6379)
  user             postgres: DATA_SOURCE_USER (default postgres); redis: REDIS_USER (default none)
  passwordSecret   {name, key} of an existing Secret: DATA_SOURCE_PASS / REDIS_PASSWORD
  args             extra arguments (list)
  env              extra environment variables (list of EnvVar)
  resources        default {requests: {cpu: 10m, memory: 64Mi}, limits: {memory: 128Mi}}
*/}}
{{- define "flextime-exporters.sidecar" -}}
{{- $exporter := required "flextime-exporters.sidecar: exporter must be postgres or redis" .exporter -}}
{{- if not (has $exporter (list "postgres" "redis")) -}}
{{- fail (printf "flextime-exporters.sidecar: exporter %q is not postgres or redis" $exporter) -}}
{{- end -}}
{{- $port := default (ternary 9187 9121 (eq $exporter "postgres")) .port -}}
- name: {{ default (printf "%s-exporter" $exporter) .name }}
  image: {{ default "ghcr.io/flextime/flextime-exporters:0.1.0" .image }}
  imagePullPolicy: {{ default "IfNotPresent" .imagePullPolicy }}
  args:
    - {{ $exporter }}
    - --web.listen-address=:{{ $port }}
    {{- range .args }}
    - {{ . | quote }}
    {{- end }}
  env:
    {{- if eq $exporter "postgres" }}
    - name: DATA_SOURCE_URI
      value: {{ default "localhost:5432/postgres?sslmode=disable" .address | quote }}
    - name: DATA_SOURCE_USER
      value: {{ default "postgres" .user | quote }}
    {{- with .passwordSecret }}
    - name: DATA_SOURCE_PASS
      valueFrom:
        secretKeyRef:
          name: {{ .name }}
          key: {{ .key }}
    {{- end }}
    {{- else }}
    - name: REDIS_ADDR
      value: {{ default "redis://localhost:6379" .address | quote }}
    {{- with .user }}
    - name: REDIS_USER
      value: {{ . | quote }}
    {{- end }}
    {{- with .passwordSecret }}
    - name: REDIS_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ .name }}
          key: {{ .key }}
    {{- end }}
    {{- end }}
    {{- with .env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: {{ ternary "pg-metrics" "redis-metrics" (eq $exporter "postgres") }}
      containerPort: {{ $port }}
      protocol: TCP
  {{- include "flextime-exporters.probes" (dict "port" $port) | nindent 2 }}
  resources:
    {{- toYaml (default (dict "requests" (dict "cpu" "10m" "memory" "64Mi") "limits" (dict "memory" "128Mi")) .resources) | nindent 4 }}
  securityContext:
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    privileged: false
    runAsNonRoot: true
    runAsUser: 65534
    runAsGroup: 65534
    capabilities:
      drop: [ALL]
    seccompProfile:
      type: RuntimeDefault
{{- end -}}

{{/* The namespace of a component's workload: node.namespace when set (a namespace whose Pod Security level
admits host paths), else the chart's. (dict "root" $ "component" "node") */}}
{{- define "flextime-exporters.componentNamespace" -}}
{{- $c := index .root.Values .component -}}
{{- default (include "flextime-exporters.namespace" .root) (dig "namespace" "" $c) -}}
{{- end -}}
