{{- define "parley.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "parley.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: pass (list $ "gateway") */}}
{{- define "parley.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "parley.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "parley.drainSeconds" -}}
{{- .Values.config.DRAIN_S | default 5 | int -}}
{{- end -}}

{{/* The gateway's grace period: preStop + DRAIN_S + 30 s unless set, and never below preStop + DRAIN_S. */}}
{{- define "parley.gatewayGrace" -}}
{{- $floor := add (int .Values.gateway.preStopSeconds) (include "parley.drainSeconds" . | int) -}}
{{- $grace := .Values.gateway.terminationGracePeriodSeconds | default (add $floor 30) | int -}}
{{- if le $grace $floor -}}
{{- fail (printf "gateway.terminationGracePeriodSeconds (%d) must exceed gateway.preStopSeconds + config.DRAIN_S (%d)" $grace $floor) -}}
{{- end -}}
{{- $grace -}}
{{- end -}}

{{/*
The environment of a Parley container: pass (list $ "gateway"|"worker"). The chart's own
variables first, then config and the component's env (empty values left out), then the
Secret's keys (the JWT secret for gateways only).
*/}}
{{- define "parley.env" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $values := index $root.Values $component -}}
{{- $reserved := list "PORT" "ADMIN_PORT" "HOST" "NODE_ID" "JWT_SECRET" "ADMIN_TOKEN" "WEBHOOK_SECRET" -}}
- name: NODE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if eq (int $root.Values.ports.http) (int $root.Values.ports.admin) }}
{{- fail "ports.admin must differ from ports.http" }}
{{- end }}
- name: HOST
  value: "0.0.0.0"
{{- if eq $component "gateway" }}
- name: PORT
  value: {{ $root.Values.ports.http | quote }}
{{- end }}
- name: ADMIN_PORT
  value: {{ $root.Values.ports.admin | quote }}
{{- range $name, $value := merge (dict) ($values.env | default dict) $root.Values.config }}
{{- if has $name $reserved }}
{{- fail (printf "%s is set by the chart: use ports or secret instead" $name) }}
{{- end }}
{{- if ne (toString $value) "" }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- if eq $component "gateway" }}
- name: JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.secret.name }}
      key: JWT_SECRET
      {{- /* A public key or JWKS URL replaces the shared secret. */}}
      optional: {{ if or $root.Values.config.JWT_PUBLIC_KEY $root.Values.config.JWT_JWKS_URL $values.env.JWT_PUBLIC_KEY $values.env.JWT_JWKS_URL }}true{{ else }}false{{ end }}
- name: ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.secret.name }}
      key: ADMIN_TOKEN
      optional: true
{{- end }}
{{- /* Signs webhooks (workers) and is required beside WEBHOOK_URL (both roles). */}}
- name: WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.secret.name }}
      key: WEBHOOK_SECRET
      optional: true
{{- end -}}
