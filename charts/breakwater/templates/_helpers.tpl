{{/*
Names are fixed, as in config/default: the manager's flag defaults (--webhook-service-name,
--webhook-secret-name, --webhook-configuration-name) name these objects, and the CRDs, ClusterRoles
and the webhook configuration are cluster-wide, so one release per cluster.
*/}}

{{/* Labels of every object. */}}
{{- define "breakwater.labels" -}}
app.kubernetes.io/name: breakwater
app.kubernetes.io/part-of: breakwater
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Labels that select the manager's pods: the webhook Service and the metrics Service use them. */}}
{{- define "breakwater.selectorLabels" -}}
app.kubernetes.io/name: breakwater
app.kubernetes.io/component: manager
{{- end }}

{{/* The manager's image, also the injected guards'. */}}
{{- define "breakwater.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* The ServiceAccount subject of the manager's bindings. */}}
{{- define "breakwater.subject" -}}
- kind: ServiceAccount
  name: breakwater-controller-manager
  namespace: {{ .Release.Namespace }}
{{- end }}

{{- define "breakwater.certManager" -}}
{{- if not (has .Values.certificates.mode (list "self" "cert-manager")) -}}
{{- fail (printf "certificates.mode must be self or cert-manager, not %q" .Values.certificates.mode) -}}
{{- end -}}
{{- eq .Values.certificates.mode "cert-manager" -}}
{{- end }}
