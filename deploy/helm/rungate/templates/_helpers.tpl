{{/* Names, labels and the secrets table shared by the templates. */}}

{{- define "rungate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rungate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "rungate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "rungate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "rungate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rungate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "rungate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rungate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "rungate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The gateway's secrets: the key under .Values.secrets → the variable it sets. Each is
read from a file, <NAME>_FILE (src/config/load-config.ts, optionalSecret).
*/}}
{{- define "rungate.secretVariables" -}}
databaseUrl: DATABASE_URL
oidcClientSecret: OIDC_CLIENT_SECRET
oidcWebClientSecret: OIDC_WEB_CLIENT_SECRET
kafkaSaslPassword: KAFKA_SASL_PASSWORD
approvalWebhookSecret: RUNGATE_APPROVAL_WEBHOOK_SECRET
cursorSecret: RUNGATE_CURSOR_SECRET
replicaSecret: RUNGATE_REPLICA_SECRET
{{- end }}

{{/* Where the secret that sets variable NAME is mounted. */}}
{{- define "rungate.secretDir" -}}
{{- printf "/var/run/secrets/rungate/%s" (. | lower | replace "_" "-") }}
{{- end }}

{{/* Refuses secret values in `config`: they belong in `secrets`, mounted as files. */}}
{{- define "rungate.checkConfig" -}}
{{- $secretVars := values (include "rungate.secretVariables" . | fromYaml) }}
{{- range $name, $value := .Values.config }}
{{- if or (has $name $secretVars) (has (trimSuffix "_FILE" $name) $secretVars) (regexMatch "(SECRET|PASSWORD|TOKEN)(_FILE)?$" $name) }}
{{- fail (printf "config.%s: secrets are not set in `config` (its values land in a ConfigMap); reference an existing Secret under `secrets` or `targets.secretMounts`" $name) }}
{{- end }}
{{- if kindIs "map" $value }}
{{- fail (printf "config.%s must be a string" $name) }}
{{- end }}
{{- end }}
{{- with .Values.policies.files }}
{{- if not (and (hasKey . "model.conf") (hasKey . "policy.csv")) }}
{{- fail "policies.files needs model.conf and policy.csv (and approvals.csv for quorums other than 1): the folder replaces the image's policies/ whole" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether the chart mounts a policies / runbooks / targets ConfigMap. */}}
{{- define "rungate.policiesConfigMap" -}}
{{- if .Values.policies.existingConfigMap }}{{ .Values.policies.existingConfigMap }}{{ else if .Values.policies.files }}{{ include "rungate.fullname" . }}-policies{{ end }}
{{- end }}
{{- define "rungate.runbooksConfigMap" -}}
{{- if .Values.runbooks.existingConfigMap }}{{ .Values.runbooks.existingConfigMap }}{{ else if .Values.runbooks.files }}{{ include "rungate.fullname" . }}-runbooks{{ end }}
{{- end }}
{{- define "rungate.targetsConfigMap" -}}
{{- if .Values.targets.existingConfigMap }}{{ .Values.targets.existingConfigMap }}{{ else if .Values.targets.file }}{{ include "rungate.fullname" . }}-targets{{ end }}
{{- end }}
