{{/*
Names. With the release name "ballast" every object is named as config/default names it
(ballast-controller, ballast-webhook-service, ...), which are also the controller's flag
defaults; other release names pass the names to the controller as flags.
*/}}
{{- define "ballast.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ballast.controllerName" -}}
{{- printf "%s-controller" (include "ballast.fullname" .) -}}
{{- end -}}

{{- define "ballast.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ballast.controllerName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ballast.webhookServiceName" -}}
{{- printf "%s-webhook-service" (include "ballast.fullname" .) -}}
{{- end -}}

{{- define "ballast.webhookConfigurationName" -}}
{{- printf "%s-mutating-webhook-configuration" (include "ballast.fullname" .) -}}
{{- end -}}

{{- define "ballast.certSecretName" -}}
{{- printf "%s-webhook-cert" (include "ballast.fullname" .) -}}
{{- end -}}

{{/* The ClusterPolicy cluster name; the chart cannot install without it. */}}
{{- define "ballast.clusterName" -}}
{{- required "clusterName is required: set it to the ClusterPolicy's spec.cluster.name this controller serves (--set clusterName=<name>)" .Values.clusterName -}}
{{- end -}}

{{- define "ballast.image" -}}
{{- $repo := required "image.repository is required" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "ballast.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ballast.labels" -}}
{{ include "ballast.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The namespaces the webhooks see: exactly config/default's scope. Only namespaces
labelled ballast.dev/distribution=enabled, never Ballast's own or the system ones, even
when labelled, nor those of controller.excludeNamespaces. The webhook checks the same
scope itself (controllers/internal/scope).
*/}}
{{- define "ballast.namespaceSelector" -}}
matchLabels:
  ballast.dev/distribution: enabled
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ concat (list .Release.Namespace "kube-node-lease" "kube-public" "kube-system") .Values.controller.excludeNamespaces | uniq | toJson }}
{{- end -}}

{{/*
documents splits a generated multi-document YAML file of the chart (files/) into its
objects, as a list of dicts: (include "ballast.documents" (list $ "files/x.yaml") | fromYaml).objects
*/}}
{{- define "ballast.documents" -}}
{{- $root := index . 0 -}}
{{- $objects := list -}}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" ($root.Files.Get (index . 1)) -1 -}}
{{- $obj := fromYaml $doc -}}
{{- if get $obj "kind" -}}
{{- $objects = append $objects $obj -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "objects" $objects) -}}
{{- end -}}
