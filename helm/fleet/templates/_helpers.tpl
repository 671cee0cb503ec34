{{/*
Names, labels and the pieces every fleet pod shares. Object names are cut to 63 characters (the DNS label limit).
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "fleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name: fullnameOverride, else the release name, suffixed with the chart name unless it contains it. */}}
{{- define "fleet.fullname" -}}
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

{{/*
Name of one component's objects: "<fullname>-<component>". StatefulSet names are cut to 52 characters so that pod
names and the controller-revision-hash label stay within 63.
Usage: include "fleet.componentName" (list . "api")
*/}}
{{- define "fleet.componentName" -}}
{{- $ctx := index . 0 }}
{{- $component := index . 1 }}
{{- $max := 63 }}
{{- if or (eq $component "ingest") (eq $component "mosquitto") }}{{ $max = 52 }}{{ end }}
{{- printf "%s-%s" (include "fleet.fullname" $ctx | trunc (int (sub $max (add 1 (len $component))))) $component | trimSuffix "-" }}
{{- end }}

{{/* chart label: name-version. */}}
{{- define "fleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: fixed for the life of a release, so no version or chart label here. */}}
{{- define "fleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "fleet.labels" -}}
helm.sh/chart: {{ include "fleet.chart" . }}
{{ include "fleet.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fleet
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component. Usage: include "fleet.componentSelectorLabels" (list . "api") */}}
{{- define "fleet.componentSelectorLabels" -}}
{{ include "fleet.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Labels of one component's objects. Usage: include "fleet.componentLabels" (list . "api") */}}
{{- define "fleet.componentLabels" -}}
{{ include "fleet.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* The fleet image reference: repository:tag, or repository@digest. */}}
{{- define "fleet.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/* Name of the ServiceAccount of the fleet pods. */}}
{{- define "fleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fleet.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the database URL. */}}
{{- define "fleet.databaseSecretName" -}}
{{- default (printf "%s-database" (include "fleet.fullname" .)) .Values.database.existingSecret }}
{{- end }}

{{/* The broker URL when it is not read from a Secret: the in-chart broker when enabled, else mqtt.url. */}}
{{- define "fleet.mqttUrl" -}}
{{- if .Values.mosquitto.enabled }}
{{- printf "mqtt://%s:%d" (include "fleet.componentName" (list . "mosquitto")) (int .Values.mosquitto.port) }}
{{- else if .Values.mqtt.url }}
{{- .Values.mqtt.url }}
{{- else }}
{{- fail "fleet: set mqtt.url, mqtt.existingSecret or mosquitto.enabled=true" }}
{{- end }}
{{- end }}

{{/* The database URL, from its Secret (ingest, API, migrations). */}}
{{- define "fleet.databaseEnv" -}}
- name: FLEET_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "fleet.databaseSecretName" . }}
      key: {{ .Values.database.secretKey }}
{{- end }}

{{/* The broker URL from mqtt.existingSecret, when set (it overrides the ConfigMap's FLEET_MQTT_URL). */}}
{{- define "fleet.mqttEnv" -}}
{{- if and .Values.mqtt.existingSecret (not .Values.mosquitto.enabled) }}
- name: FLEET_MQTT_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.mqtt.existingSecret }}
      key: {{ .Values.mqtt.secretKey }}
{{- end }}
{{- end }}

{{/* Pod template annotations that roll the pods when their configuration changes. */}}
{{- define "fleet.configChecksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if and .Values.database.url (not .Values.database.existingSecret) }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/* Volumes of every fleet pod: a writable /tmp, since the root filesystem is read-only. */}}
{{- define "fleet.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{/* Pod-level settings shared by every fleet pod. */}}
{{- define "fleet.podCommon" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}
