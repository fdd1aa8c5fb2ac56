{{/* Labels shared by every object. */}}
{{- define "shop.commonLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: cloud-native-shop
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Labels of a workload: ctx = dict "root" $ "name" <app> "version" <v> "track" <stable|canary> "component" <c> */}}
{{- define "shop.labels" -}}
{{ include "shop.commonLabels" .root }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/version: {{ .version | quote }}
app: {{ .name }}
version: {{ .version | quote }}
{{- if .track }}
track: {{ .track }}
{{- end }}
{{- end -}}

{{/* Pod selector of one track of one app. */}}
{{- define "shop.selector" -}}
app: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .track }}
track: {{ .track }}
{{- end }}
{{- end -}}

{{/* Image reference of a service; the tag is required by the schema and never `latest`. */}}
{{- define "shop.image" -}}
{{- $tag := .tag | default .root.Values.image.tag -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .name $tag -}}
{{- end -}}

{{/* Name of the Secret that holds DATABASE_URL of a service. */}}
{{- define "shop.dbSecret" -}}
{{- $svc := index .root.Values.services .name -}}
{{- if and $svc.database $svc.database.existingSecret -}}
{{- $svc.database.existingSecret -}}
{{- else -}}
{{- printf "%s-database" .name -}}
{{- end -}}
{{- end -}}

{{/* ServiceAccount of a call-graph node. */}}
{{- define "shop.serviceAccount" -}}
{{- if eq .name "helm-test" -}}
{{- printf "%s-helm-test" .root.Release.Name -}}
{{- else -}}
{{- .name -}}
{{- end -}}
{{- end -}}

{{/* SPIFFE principal (without the spiffe:// prefix) of a call-graph source. */}}
{{- define "shop.principal" -}}
{{- $m := .root.Values.mesh -}}
{{- if eq .name "ingress" -}}
{{- printf "%s/ns/%s/sa/%s" $m.trustDomain $m.istioNamespace $m.ingressGateway.serviceAccount -}}
{{- else -}}
{{- printf "%s/ns/%s/sa/%s" $m.trustDomain .root.Release.Namespace (include "shop.serviceAccount" .) -}}
{{- end -}}
{{- end -}}

{{/* Is a call-graph node rendered by this release? (services always; postgresql/kafka when enabled) */}}
{{- define "shop.inCluster" -}}
{{- if eq .name "postgresql" -}}{{ .root.Values.postgresql.enabled }}
{{- else if eq .name "kafka" -}}{{ .root.Values.kafka.enabled }}
{{- else -}}true{{- end -}}
{{- end -}}

{{/* Port number of a named port of a call-graph target. */}}
{{- define "shop.portNumber" -}}
{{- $p := dict "grpc" 50051 "http" 8080 "postgres" 5432 "kafka" 9092 -}}
{{- index $p .port -}}
{{- end -}}

{{/* Restricted container security context (Pod Security Standards, restricted profile). */}}
{{- define "shop.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Istio HTTPFaultInjection of a route from services.<name>.route.fault (percent -> percentage.value). */}}
{{- define "shop.fault" -}}
{{- with .delay }}
delay:
  fixedDelay: {{ .fixedDelay }}
  percentage:
    value: {{ .percent | default 100 }}
{{- end }}
{{- with .abort }}
abort:
  {{- if .httpStatus }}
  httpStatus: {{ .httpStatus }}
  {{- else }}
  grpcStatus: {{ .grpcStatus | quote }}
  {{- end }}
  percentage:
    value: {{ .percent | default 100 }}
{{- end }}
{{- end -}}

{{/* Milliseconds of a duration "<n>ms" or "<n>s" (the schema allows only these two units on routes). */}}
{{- define "shop.durationMs" -}}
{{- $d := toString . -}}
{{- if hasSuffix "ms" $d -}}{{ trimSuffix "ms" $d | float64 }}
{{- else if hasSuffix "s" $d -}}{{ mulf (trimSuffix "s" $d | float64) 1000 }}
{{- else -}}{{ fail (printf "%q is not a duration in ms or s" $d) }}
{{- end -}}
{{- end -}}

{{/* The Istio HTTPRetry of a route (services.<name>.route): attempts 0 is rendered alone (no retries at all, not
     Istio's default of 2); otherwise every try must fit in the route's timeout, or the chart refuses the values. */}}
{{- define "shop.retries" -}}
{{- $r := .route.retries -}}
{{- if eq (int $r.attempts) 0 -}}
attempts: 0
{{- else -}}
{{- $tries := add1 (int $r.attempts) -}}
{{- $per := include "shop.durationMs" $r.perTryTimeout | float64 -}}
{{- $timeout := include "shop.durationMs" .route.timeout | float64 -}}
{{- if gt (mulf $tries $per) $timeout -}}
{{- fail (printf "services.%s.route: (1 + retries.attempts %d) x retries.perTryTimeout %s exceeds route.timeout %s; lower attempts or perTryTimeout, or raise timeout" .name (int $r.attempts) $r.perTryTimeout .route.timeout) -}}
{{- end -}}
attempts: {{ $r.attempts }}
perTryTimeout: {{ $r.perTryTimeout }}
retryOn: {{ $r.retryOn }}
{{- with $r.backoff }}
backoff: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* HTTP routes of a VirtualService: header route to canary, then weighted stable/canary with timeout and retries.
     ctx = dict "name" "host" "port" "svc" "weight" "m" */}}
{{- define "shop.vsRoutes" -}}
{{- $r := .svc.route -}}
{{- $retries := include "shop.retries" (dict "name" .name "route" $r) -}}
{{- $uris := .uris | default list -}}
{{- $fault := $r.fault | default dict -}}
{{- $faultAll := and $fault (not $fault.header) -}}
{{- if and $fault $fault.header }}
{{- /* A header-scoped fault: only requests carrying the header, on the stable subset. */}}
- name: fault-by-header
  match:
    {{- if $uris }}
    {{- range $uris }}
    - uri:
        {{- toYaml . | nindent 8 }}
      headers:
        {{ $fault.header.name }}:
          exact: {{ $fault.header.value | quote }}
    {{- end }}
    {{- else }}
    - headers:
        {{ $fault.header.name }}:
          exact: {{ $fault.header.value | quote }}
    {{- end }}
  fault:
    {{- include "shop.fault" $fault | trim | nindent 4 }}
  route:
    - destination:
        host: {{ .host }}
        subset: stable
        port:
          number: {{ .port }}
      weight: 100
  timeout: {{ $r.timeout }}
  retries:
    {{- $retries | nindent 4 }}
{{- end }}
{{- if .svc.canary.enabled }}
- name: canary-by-header
  match:
    {{- if $uris }}
    {{- range $uris }}
    - uri:
        {{- toYaml . | nindent 8 }}
      headers:
        {{ $.m.canaryHeader.name }}:
          exact: {{ $.m.canaryHeader.value | quote }}
    {{- end }}
    {{- else }}
    - headers:
        {{ .m.canaryHeader.name }}:
          exact: {{ .m.canaryHeader.value | quote }}
    {{- end }}
  route:
    - destination:
        host: {{ .host }}
        subset: canary
        port:
          number: {{ .port }}
      weight: 100
  {{- if $faultAll }}
  fault:
    {{- include "shop.fault" $fault | trim | nindent 4 }}
  {{- end }}
  timeout: {{ $r.timeout }}
  retries:
    {{- $retries | nindent 4 }}
{{- end }}
- name: weighted
  {{- if $uris }}
  match:
    {{- range $uris }}
    - uri:
        {{- toYaml . | nindent 8 }}
    {{- end }}
  {{- end }}
  route:
    - destination:
        host: {{ .host }}
        subset: stable
        port:
          number: {{ .port }}
      weight: {{ sub 100 .weight }}
    {{- if .svc.canary.enabled }}
    - destination:
        host: {{ .host }}
        subset: canary
        port:
          number: {{ .port }}
      weight: {{ .weight }}
    {{- end }}
  {{- if $faultAll }}
  fault:
    {{- include "shop.fault" $fault | trim | nindent 4 }}
  {{- end }}
  timeout: {{ $r.timeout }}
  retries:
    {{- $retries | nindent 4 }}
{{- end -}}

{{/* Kafka's log directory: a subdirectory of the data volume, never its root (ext4 puts lost+found there). */}}
{{- define "shop.kafkaLogDir" -}}
/var/lib/kafka/data/kraft-logs
{{- end -}}

{{/* Sidecar injection follows mesh.enabled both ways: "false" also wins over a namespace labelled for injection
     (kind-up.sh labels it, or a cluster's default), so a plain-Kubernetes install never gets half a mesh. */}}
{{- define "shop.injectLabel" -}}
sidecar.istio.io/inject: {{ ternary "true" "false" .Values.mesh.enabled | quote }}
{{- end -}}

{{/* Extra pod annotations (e.g. sidecar.istio.io/proxyCPU): podAnnotations of the chart, then the workload's own.
     ctx = dict "root" $ "extra" <map> */}}
{{- define "shop.podAnnotations" -}}
{{- $all := merge (deepCopy (.extra | default dict)) (deepCopy (.root.Values.podAnnotations | default dict)) -}}
{{- range $k, $v := $all }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* updateStrategy and persistentVolumeClaimRetentionPolicy of a StatefulSet (kafka.* / postgresql.*). */}}
{{- define "shop.statefulSetPolicies" -}}
{{- $u := .updateStrategy | default dict -}}
updateStrategy:
  type: {{ $u.type | default "RollingUpdate" }}
  {{- if and (eq ($u.type | default "RollingUpdate") "RollingUpdate") (hasKey $u "partition") }}
  rollingUpdate:
    partition: {{ $u.partition }}
  {{- end }}
{{- $r := .persistentVolumeClaimRetentionPolicy | default dict }}
persistentVolumeClaimRetentionPolicy:
  whenDeleted: {{ $r.whenDeleted | default "Retain" }}
  whenScaled: {{ $r.whenScaled | default "Retain" }}
{{- end -}}

{{/* A probe: the chart's default, then services.<name>.probes.<kind> over it (period, timeout, thresholds,
     initialDelaySeconds; the handler stays the chart's). ctx = dict "default" <map> "over" <map> */}}
{{- define "shop.probe" -}}
{{- toYaml (merge (deepCopy (.over | default dict)) .default) -}}
{{- end -}}

{{/* Connections the services' pools can open at full scale: per service owning a database, (maxReplicas when it
     autoscales, else replicas, plus the canary's replicas when enabled) x (DATABASE_POOL_MAX of its env, else the
     services' default 10). */}}
{{- define "shop.poolConnections" -}}
{{- $root := . -}}
{{- $total := 0 -}}
{{- $owners := list -}}
{{- range $root.Values.callGraph }}{{ if eq .to "postgresql" }}{{ $owners = append $owners .from }}{{ end }}{{ end -}}
{{- range uniq $owners }}
{{- $svc := index $root.Values.services . -}}
{{- $pods := ternary $svc.autoscaling.maxReplicas $svc.replicas $svc.autoscaling.enabled | int -}}
{{- if $svc.canary.enabled }}{{ $pods = add $pods $svc.canary.replicas }}{{ end -}}
{{- $pool := dig "env" "DATABASE_POOL_MAX" "10" $svc | int -}}
{{- $total = add $total (mul $pods $pool) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* PostgreSQL's max_connections: postgresql.maxConnections, or (0) the pools at full scale plus
     postgresql.reservedConnections; an explicit value below what the pools need fails the render. */}}
{{- define "shop.pgMaxConnections" -}}
{{- $need := include "shop.poolConnections" . | int -}}
{{- $reserved := .Values.postgresql.reservedConnections | default 20 | int -}}
{{- $set := .Values.postgresql.maxConnections | default 0 | int -}}
{{- if eq $set 0 -}}
{{- add $need $reserved -}}
{{- else if lt $set (add $need $reserved) -}}
{{- fail (printf "postgresql.maxConnections=%d is below what the services' pools open at full scale (%d: per service maxReplicas (or replicas) + canary replicas, x DATABASE_POOL_MAX, default 10) plus postgresql.reservedConnections (%d): raise it to at least %d, or set 0 to compute it" $set $need $reserved (add $need $reserved)) -}}
{{- else -}}
{{- $set -}}
{{- end -}}
{{- end -}}

{{/* A scalar of a settings map as text: whole numbers without an exponent (Helm reads every number as float64). */}}
{{- define "shop.scalar" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}
