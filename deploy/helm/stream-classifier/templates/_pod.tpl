{{- define "sc.podTemplate" -}}
metadata:
  labels: {{- include "sc.selectorLabels" . | nindent 4 }}
  annotations:
    # settings changes roll the pods; label-set changes do not (the consumer reloads them live)
    checksum/settings: {{ include (print $.Template.BasePath "/configmap-settings.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}{{ toYaml . | nindent 4 }}{{ end }}
spec:
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  containers:
    - name: stream-classifier
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["run", "--config", "/etc/stream-classifier/settings/settings.yaml"]
      ports:
        - name: metrics
          containerPort: {{ .Values.metrics.port }}
      {{- if or (eq (include "sc.exactlyOnce" .) "true") .Values.kafka.sasl.enabled }}
      env:
        {{- if eq (include "sc.exactlyOnce" .) "true" }}
        # a stable name per pod: the transactional.id, so a restarted pod fences its predecessor
        - name: SC_KAFKA__GROUP_INSTANCE_ID
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        {{- end }}
        {{- if .Values.kafka.sasl.enabled }}
        - name: SC_KAFKA__SASL_USERNAME
          valueFrom: {secretKeyRef: {name: {{ include "sc.saslSecret" . }}, key: username}}
        - name: SC_KAFKA__SASL_PASSWORD
          valueFrom: {secretKeyRef: {name: {{ include "sc.saslSecret" . }}, key: password}}
        {{- end }}
      {{- end }}
      startupProbe:
        httpGet: {path: /healthz, port: metrics}
        {{- toYaml .Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet: {path: /healthz, port: metrics}
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet: {path: /readyz, port: metrics}
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      resources: {{- toYaml .Values.resources | nindent 8 }}
      volumeMounts:
        - {name: settings, mountPath: /etc/stream-classifier/settings, readOnly: true}
        # a directory mount, not subPath: the kubelet's ..data symlink swap reaches the watcher
        - {name: labels, mountPath: /etc/stream-classifier/labels, readOnly: true}
  volumes:
    - name: settings
      configMap: {name: {{ include "sc.fullname" . }}-settings}
    - name: labels
      configMap: {name: {{ include "sc.labelsConfigMap" . }}}
  {{- with .Values.nodeSelector }}
  nodeSelector: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity: {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
