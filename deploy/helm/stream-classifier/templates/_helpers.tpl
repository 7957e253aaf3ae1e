{{- define "sc.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "sc.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sc.labels" -}}
{{ include "sc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "sc.exactlyOnce" -}}{{ eq .Values.deliveryMode "exactly_once" }}{{- end -}}

{{- define "sc.saslSecret" -}}
{{- .Values.kafka.sasl.existingSecret | default (printf "%s-sasl" (include "sc.fullname" .)) -}}
{{- end -}}

{{- define "sc.labelsConfigMap" -}}
{{- .Values.labels.existingConfigMap | default (printf "%s-labels" (include "sc.fullname" .)) -}}
{{- end -}}

{{- define "sc.checks" -}}
{{- if not (has .Values.deliveryMode (list "at_least_once" "exactly_once")) -}}
{{- fail (printf "deliveryMode: at_least_once or exactly_once, got %q" .Values.deliveryMode) -}}
{{- end -}}
{{- $stopWorstCase := mulf 5 (float64 .Values.delivery.flushTimeoutSeconds) -}}
{{- if le (float64 .Values.terminationGracePeriodSeconds) $stopWorstCase -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be longer than 5 x delivery.flushTimeoutSeconds (%v): a stop runs up to five steps each bounded by the flush timeout, and the pod is killed mid-stop otherwise" .Values.terminationGracePeriodSeconds $stopWorstCase) -}}
{{- end -}}
{{- if and .Values.keda.enabled (gt (int .Values.keda.maxReplicaCount) (int .Values.topics.inputPartitions)) -}}
{{- fail (printf "keda.maxReplicaCount (%v) must not exceed topics.inputPartitions (%v): replicas beyond the partition count get no partition" .Values.keda.maxReplicaCount .Values.topics.inputPartitions) -}}
{{- end -}}
{{- if not (kindIs "map" .Values.labels.content) -}}
{{- fail "labels.content: a map of file name -> label-set YAML (e.g. labels.content.mine\\.yaml), with labels.files naming the files to label with" -}}
{{- end -}}
{{- if not .Values.labels.files -}}
{{- fail "labels.files: name at least one label-set file" -}}
{{- end -}}
{{- if not .Values.labels.existingConfigMap -}}
{{- $shipped := list -}}
{{- range $path, $_ := .Files.Glob "label_sets/*.yaml" -}}{{- $shipped = append $shipped (base $path) -}}{{- end -}}
{{- range .Values.labels.files -}}
{{- if not (or (has . $shipped) (hasKey $.Values.labels.content .)) -}}
{{- fail (printf "labels.files: %s is neither a shipped set (%s) nor a key of labels.content" . (join ", " $shipped)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.kafka.sasl.enabled (not .Values.kafka.sasl.existingSecret) (not .Values.kafka.sasl.password) -}}
{{- fail "kafka.sasl: set existingSecret, or username and password" -}}
{{- end -}}
{{- end -}}
