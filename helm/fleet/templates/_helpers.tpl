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
{{- if has $component (list "ingest" "mosquitto" "s3") }}{{ $max = 52 }}{{ end }}
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

{{/* The database URL, from its Secret (ingest, API, migrations). */}}
{{- define "fleet.databaseEnv" -}}
- name: FLEET_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "fleet.databaseSecretName" . }}
      key: {{ .Values.database.secretKey }}
{{- end }}

{{/* Name of the Secret holding the passwords of fleet's broker identities. */}}
{{- define "fleet.mqttSecretName" -}}
{{- default (printf "%s-mqtt" (include "fleet.fullname" .)) .Values.mqtt.existingSecret }}
{{- end }}

{{/* Whether the chart makes that Secret: from the password values, when no existingSecret is named. */}}
{{- define "fleet.mqttSecretFromValues" -}}
{{- $mqtt := .Values.mqtt }}
{{- if and (not $mqtt.existingSecret) (or $mqtt.ingestPassword $mqtt.publisherPassword $mqtt.adminPassword) }}true{{ end }}
{{- end }}

{{/* "true" when fleet issues vehicle credentials through the broker's dynamic-security admin. */}}
{{- define "fleet.managesCredentials" -}}
{{- if or .Values.mosquitto.enabled .Values.mqtt.manageVehicleCredentials }}true{{ end }}
{{- end }}

{{/*
The broker address without credentials: the in-chart broker's plain in-cluster listener when enabled, else
mqtt.url. Credentials never come from values in a URL: each identity's password is read from the Secret.
*/}}
{{- define "fleet.mqttAddress" -}}
{{- if .Values.mosquitto.enabled }}
{{- printf "mqtt://%s:%d" (include "fleet.componentName" (list . "mosquitto")) (int .Values.mosquitto.port) }}
{{- else }}
{{- $url := required "fleet: set mqtt.url (an external broker) or mosquitto.enabled=true" .Values.mqtt.url }}
{{- $parts := urlParse $url }}
{{- if $parts.userinfo }}
{{- fail "fleet: mqtt.url must not carry credentials; the passwords come from the Secret (mqtt.existingSecret)" }}
{{- end }}
{{- printf "%s://%s" $parts.scheme $parts.host }}
{{- end }}
{{- end }}

{{/*
The broker URL of one identity. The password is an earlier env entry, expanded by the kubelet ($(VAR)), so it never
appears in the pod spec; it goes into the URL as it is, hence URL-safe passwords.
Usage: include "fleet.mqttUrlAs" (list . "fleet-ingest" "MQTT_PASSWORD")
*/}}
{{- define "fleet.mqttUrlAs" -}}
{{- $address := urlParse (include "fleet.mqttAddress" (index . 0)) }}
{{- printf "%s://%s:$(%s)@%s" $address.scheme (index . 1) (index . 2) $address.host }}
{{- end }}

{{/*
FLEET_MQTT_URL of a service identity, with the password from the broker Secret.
Usage: include "fleet.mqttIdentityEnv" (list . "fleet-ingest" "ingestPassword")
*/}}
{{- define "fleet.mqttIdentityEnv" -}}
{{- $ctx := index . 0 -}}
- name: MQTT_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "fleet.mqttSecretName" $ctx }}
      key: {{ index $ctx.Values.mqtt.secretKeys (index . 2) }}
- name: FLEET_MQTT_URL
  value: {{ include "fleet.mqttUrlAs" (list $ctx (index . 1) "MQTT_PASSWORD") | quote }}
{{- with include "fleet.mqttCaEnv" $ctx }}
{{ . }}
{{- end }}
{{- end }}

{{/*
FLEET_BROKER_ADMIN_URL: the dynamic-security admin, which may only use $CONTROL/dynamic-security/# (vehicle
credentials). Only where fleet manages the broker's identities.
*/}}
{{- define "fleet.brokerAdminEnv" -}}
{{- if include "fleet.managesCredentials" . -}}
- name: BROKER_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "fleet.mqttSecretName" . }}
      key: {{ .Values.mqtt.secretKeys.adminPassword }}
- name: FLEET_BROKER_ADMIN_URL
  value: {{ include "fleet.mqttUrlAs" (list . .Values.mqtt.adminUsername "BROKER_ADMIN_PASSWORD") | quote }}
{{- end }}
{{- end }}

{{/* FLEET_MQTT_CA_FILE, when mqtt.caSecret names the CA of the broker's certificate. */}}
{{- define "fleet.mqttCaEnv" -}}
{{- if .Values.mqtt.caSecret -}}
- name: FLEET_MQTT_CA_FILE
  value: /etc/fleet/mqtt-ca/{{ .Values.mqtt.caKey }}
{{- end }}
{{- end }}

{{/* The volume and mount of that CA (read-only, public data). */}}
{{- define "fleet.mqttCaVolume" -}}
{{- if .Values.mqtt.caSecret -}}
- name: mqtt-ca
  secret:
    secretName: {{ .Values.mqtt.caSecret }}
    items:
      - key: {{ .Values.mqtt.caKey }}
        path: {{ .Values.mqtt.caKey }}
{{- end }}
{{- end }}

{{- define "fleet.mqttCaMount" -}}
{{- if .Values.mqtt.caSecret -}}
- name: mqtt-ca
  mountPath: /etc/fleet/mqtt-ca
  readOnly: true
{{- end }}
{{- end }}

{{/*
"true" once the object storage settings hold together. Every install needs object storage: the API reads and the
worker checks the file payloads there (without a bucket the API would fall back to a folder of its own pod, which
production refuses). The cross-field rules the schema cannot express fail the render here too.
*/}}
{{- define "fleet.objectStorage" -}}
{{- $s3 := .Values.objectStorage }}
{{- if not (or $s3.bucket $s3.demo.enabled) }}
{{- fail "fleet: the API and the worker keep the units' files in object storage: set objectStorage.bucket (AWS S3, or an S3-compatible store at objectStorage.endpointUrl) or objectStorage.demo.enabled=true (docs/deploy.md, \"Object storage\")" }}
{{- end }}
{{- if and $s3.demo.enabled (not $s3.existingSecret) }}
{{- fail "fleet: objectStorage.demo.enabled needs objectStorage.existingSecret: the access key of the demo store's root user (keys objectStorage.secretKeys.*)" }}
{{- end }}
{{- if and $s3.demo.enabled (ne $s3.sse "none") }}
{{- fail "fleet: the demo object store has no KMS: leave objectStorage.sse at none" }}
{{- end }}
{{- if and $s3.publicEndpointUrl (not $s3.endpointUrl) (not $s3.demo.enabled) }}
{{- fail "fleet: objectStorage.publicEndpointUrl needs objectStorage.endpointUrl (or objectStorage.demo.enabled): AWS S3 is reached under its own name" }}
{{- end }}
{{- if and $s3.kmsKeyId (ne $s3.sse "aws:kms") }}
{{- fail "fleet: objectStorage.kmsKeyId is set but objectStorage.sse is not aws:kms" }}
{{- end }}
{{- true }}
{{- end }}

{{/* "true" when the worker is deployed. */}}
{{- define "fleet.workerEnabled" -}}
{{- if and .Values.worker.enabled (include "fleet.objectStorage" .) }}true{{ end }}
{{- end }}

{{/* FLEET_S3_BUCKET: objectStorage.bucket, or "fleet-files" in the demo store. */}}
{{- define "fleet.s3Bucket" -}}
{{- if and .Values.objectStorage.demo.enabled (not .Values.objectStorage.bucket) }}fleet-files{{ else }}{{ .Values.objectStorage.bucket }}{{ end }}
{{- end }}

{{/* FLEET_S3_ENDPOINT_URL: the demo store's Service, else objectStorage.endpointUrl (empty: AWS S3). */}}
{{- define "fleet.s3Endpoint" -}}
{{- if .Values.objectStorage.demo.enabled }}
{{- printf "http://%s:%d" (include "fleet.componentName" (list . "s3")) (int .Values.objectStorage.demo.port) }}
{{- else }}
{{- .Values.objectStorage.endpointUrl }}
{{- end }}
{{- end }}

{{/* envFrom entry of the object storage settings (API and worker). */}}
{{- define "fleet.objectStorageEnvFrom" -}}
{{- if include "fleet.objectStorage" . -}}
- configMapRef:
    name: {{ include "fleet.fullname" . }}-object-storage
{{- end }}
{{- end }}

{{/*
The object store's access key from objectStorage.existingSecret (API and worker). Without that Secret none: boto3's
default chain (an IAM role for the ServiceAccount, AWS_* variables, an instance profile).
*/}}
{{- define "fleet.objectStorageEnv" -}}
{{- if and (include "fleet.objectStorage" .) .Values.objectStorage.existingSecret -}}
- name: FLEET_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.objectStorage.existingSecret }}
      key: {{ .Values.objectStorage.secretKeys.accessKeyId }}
- name: FLEET_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.objectStorage.existingSecret }}
      key: {{ .Values.objectStorage.secretKeys.secretAccessKey }}
{{- end }}
{{- end }}

{{/* Pod template annotations that roll the pods when their configuration changes. */}}
{{- define "fleet.configChecksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if or (and .Values.database.url (not .Values.database.existingSecret)) (include "fleet.mqttSecretFromValues" .) }}
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
