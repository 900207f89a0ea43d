{{/* Names and labels */}}
{{- define "guardstream.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "guardstream.name" -}}
{{- printf "%s-%s" (include "guardstream.fullname" .root) .component -}}
{{- end -}}

{{- define "guardstream.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "guardstream.labels" -}}
{{ include "guardstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "guardstream.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "guardstream.tritonUrl" -}}
{{- .Values.triton.grpcUrl | default (printf "%s:%v" (include "guardstream.name" (dict "root" . "component" "triton")) .Values.triton.ports.grpc) -}}
{{- end -}}

{{/* Kafka security, checked once: a SASL protocol needs its Secret, a TLS one its CA */}}
{{- define "guardstream.kafkaSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol -}}
{{- required "kafka.sasl.existingSecret: a SASL security protocol needs the Secret with the user and password" .Values.kafka.sasl.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "guardstream.kafkaTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") -}}
{{- if and .Values.kafka.tls.caSecret .Values.kafka.tls.caSystem -}}
{{- fail "kafka.tls: set one of caSecret and caSystem, not both" -}}
{{- end -}}
{{- if not (or .Values.kafka.tls.caSecret .Values.kafka.tls.caSystem) -}}
{{- fail "kafka.tls: a TLS security protocol needs caSecret (the brokers' CA) or caSystem: true" -}}
{{- end -}}
enabled
{{- end -}}
{{- end -}}

{{/* The settings every guardstream pod shares (GUARDSTREAM_<SECTION>__<FIELD>) */}}
{{- define "guardstream.env" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
- name: GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS
  value: {{ $v.kafka.bootstrapServers | quote }}
- name: GUARDSTREAM_KAFKA__SECURITY_PROTOCOL
  value: {{ $v.kafka.securityProtocol | quote }}
{{- if include "guardstream.kafkaSasl" $root }}
- name: GUARDSTREAM_KAFKA__SASL_MECHANISM
  value: {{ $v.kafka.sasl.mechanism | quote }}
- name: GUARDSTREAM_KAFKA__SASL_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ $v.kafka.sasl.existingSecret }}, key: {{ $v.kafka.sasl.usernameKey }}}
- name: GUARDSTREAM_KAFKA__SASL_PASSWORD_FILE
  value: /etc/guardstream/kafka-sasl/{{ $v.kafka.sasl.passwordKey }}
{{- end }}
{{- if include "guardstream.kafkaTls" $root }}
{{- if $v.kafka.tls.caSystem }}
- name: GUARDSTREAM_KAFKA__SSL_CA_SYSTEM
  value: "true"
{{- else }}
- name: GUARDSTREAM_KAFKA__SSL_CA_LOCATION
  value: /etc/guardstream/kafka-ca/{{ $v.kafka.tls.caKey }}
{{- end }}
{{- end }}
{{- with $v.kafka.schemaRegistryUrl }}
- name: GUARDSTREAM_KAFKA__SCHEMA_REGISTRY_URL
  value: {{ . | quote }}
{{- end }}
- name: GUARDSTREAM_TOPICS__CHAT_EVENTS
  value: {{ $v.chatEvents.topic | quote }}
{{- range $name, $topic := $v.topics }}
- name: GUARDSTREAM_TOPICS__{{ $name | upper }}
  value: {{ $topic | quote }}
{{- end }}
- name: GUARDSTREAM_TRITON__GRPC_URL
  value: {{ include "guardstream.tritonUrl" $root | quote }}
- name: GUARDSTREAM_AUDIT__URL
  valueFrom:
    secretKeyRef: {name: {{ $v.audit.existingSecret }}, key: {{ $v.audit.urlKey }}}
- name: GUARDSTREAM_AUDIT__MIGRATE_ON_START
  value: "false"
- name: GUARDSTREAM_TELEMETRY__SERVICE_NAME
  value: guardstream-{{ .component }}
{{- with $v.telemetry.otlpEndpoint }}
- name: GUARDSTREAM_TELEMETRY__OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: GUARDSTREAM_TELEMETRY__TRACE_SAMPLE_RATIO
  value: {{ $v.telemetry.traceSampleRatio | quote }}
{{- range $name, $value := .env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- range .secretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef: {name: {{ .secret }}, key: {{ .key }}}
{{- end }}
{{- end -}}

{{- define "guardstream.kafkaVolumeMounts" -}}
{{- if include "guardstream.kafkaSasl" .root }}
- {name: kafka-sasl, mountPath: /etc/guardstream/kafka-sasl, readOnly: true}
{{- end }}
{{- if and (include "guardstream.kafkaTls" .root) .root.Values.kafka.tls.caSecret }}
- {name: kafka-ca, mountPath: /etc/guardstream/kafka-ca, readOnly: true}
{{- end }}
{{- end -}}

{{- define "guardstream.kafkaVolumes" -}}
{{- $v := .root.Values -}}
{{- if include "guardstream.kafkaSasl" .root }}
- name: kafka-sasl
  secret:
    secretName: {{ $v.kafka.sasl.existingSecret }}
    items: [{key: {{ $v.kafka.sasl.passwordKey }}, path: {{ $v.kafka.sasl.passwordKey }}}]
{{- end }}
{{- if and (include "guardstream.kafkaTls" .root) $v.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ $v.kafka.tls.caSecret }}
    items: [{key: {{ $v.kafka.tls.caKey }}, path: {{ $v.kafka.tls.caKey }}}]
{{- end }}
{{- end -}}

{{/* The pod spec of a guardstream service: image, args, the shared settings, Kafka's secret files */}}
{{- define "guardstream.podSpec" -}}
{{- $root := .root -}}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets: {{ toYaml . | nindent 2 }}
{{- end }}
{{- with .terminationGracePeriodSeconds }}
terminationGracePeriodSeconds: {{ . }}
{{- end }}
containers:
  - name: {{ .component }}
    image: {{ include "guardstream.image" $root }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    args: {{ toJson .args }}
    env:
      {{- include "guardstream.env" . | nindent 6 }}
    {{- with .ports }}
    ports: {{ toYaml . | nindent 6 }}
    {{- end }}
    {{- with .probes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    securityContext:
      allowPrivilegeEscalation: false
    {{- with .resources }}
    resources: {{ toYaml . | nindent 6 }}
    {{- end }}
    {{- $mounts := include "guardstream.kafkaVolumeMounts" . }}
    {{- if or $mounts .volumeMounts }}
    volumeMounts:
      {{- if $mounts }}{{ $mounts | trim | nindent 6 }}{{ end }}
      {{- with .volumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- end }}
{{- $volumes := include "guardstream.kafkaVolumes" . }}
{{- if or $volumes .volumes }}
volumes:
  {{- if $volumes }}{{ $volumes | trim | nindent 2 }}{{ end }}
  {{- with .volumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- with .nodeSelector }}
nodeSelector: {{ toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations: {{ toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity: {{ toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
