{{- define "graceguard.labels" -}}
app.kubernetes.io/name: graceguard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "graceguard.selector" -}}
app.kubernetes.io/name: graceguard
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "graceguard.fullname" -}}
{{- if eq .Release.Name "graceguard" }}graceguard{{ else }}{{ printf "%s-graceguard" .Release.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "graceguard.ouNamespace" -}}
{{- default .Release.Namespace .Values.openunison.namespace }}
{{- end }}

{{- define "graceguard.redisName" -}}
{{- printf "%s-redis" (include "graceguard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "graceguard.redisURL" -}}
{{- if contains "@" .Values.redis.url }}{{ fail "redis.url carries credentials: give the password in the Secret named by redis.existingSecret instead" }}{{ end }}
{{- if and .Values.redis.url (not (regexMatch "^rediss?://[^/]+(/[0-9]+)?$" .Values.redis.url)) }}{{ fail "redis.url: want redis://HOST:PORT/DB or rediss://HOST:PORT/DB" }}{{ end }}
{{- if .Values.redis.url }}{{ .Values.redis.url }}{{ else if .Values.redis.bundled }}{{ printf "redis://%s:6379/0" (include "graceguard.redisName" .) }}{{ else }}{{ fail "redis.enabled needs redis.url, or redis.bundled: true" }}{{ end }}
{{- end }}
