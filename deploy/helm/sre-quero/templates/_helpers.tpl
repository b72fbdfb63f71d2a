{{/*
Names. With the release named sre-quero every object is named as in
deploy/base; the names the server itself depends on (src/webhook-contract.ts)
are fixed below, whatever the release.
*/}}

{{- define "sre-quero.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object name: the release name, or <release>-sre-quero. */}}
{{- define "sre-quero.fullname" -}}
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

{{/* Fixed by the server (src/webhook-contract.ts): LEASE_NAME, TEMPLATE_CONFIGMAP_NAME. */}}
{{- define "sre-quero.leaseName" -}}sre-quero-reconciler{{- end }}
{{- define "sre-quero.templateConfigMapName" -}}sre-quero-promtail-template{{- end }}

{{- define "sre-quero.serviceName" -}}{{ include "sre-quero.fullname" . }}{{- end }}

{{- define "sre-quero.tlsSecretName" -}}
{{- if eq .Values.certificates.source "existingSecret" }}
{{- required "certificates.existingSecret.name is required with certificates.source=existingSecret" .Values.certificates.existingSecret.name }}
{{- else }}
{{- printf "%s-tls" (include "sre-quero.fullname" .) }}
{{- end }}
{{- end }}

{{/* What the API server dials, <service>.<namespace>.svc, and the shorter forms. */}}
{{- define "sre-quero.dnsNames" -}}
{{- $svc := include "sre-quero.serviceName" . }}
{{- $ns := .Release.Namespace }}
{{- toJson (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns)) }}
{{- end }}

{{/* Labels: deploy/base's, plus Helm's own on every object's metadata. */}}
{{- define "sre-quero.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{- define "sre-quero.labels" -}}
app.kubernetes.io/name: {{ include "sre-quero.name" . }}
{{ include "sre-quero.helmLabels" . }}
{{- end }}

{{/* The webhook pods, as deploy/base selects them. */}}
{{- define "sre-quero.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sre-quero.name" . }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "sre-quero.webhookLabels" -}}
{{ include "sre-quero.selectorLabels" . }}
{{ include "sre-quero.helmLabels" . }}
{{- end }}

{{/*
Namespaces the webhook entries and the policy binding select: the entry's own
expression on the injection label, then the excluded names (the release
namespace always), then the user's extras. Call with (dict "root" $ "label" <expression>).
*/}}
{{- define "sre-quero.namespaceSelector" -}}
{{- $root := .root }}
{{- $excluded := concat $root.Values.webhooks.excludedNamespaces (list $root.Release.Namespace) | uniq }}
{{- $expressions := list .label (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" $excluded) }}
{{- $extra := $root.Values.webhooks.namespaceSelector | default dict }}
{{- $selector := dict "matchExpressions" (concat $expressions ($extra.matchExpressions | default list)) }}
{{- with $extra.matchLabels }}
{{- $_ := set $selector "matchLabels" . }}
{{- end }}
{{- toYaml $selector }}
{{- end }}

{{/*
certificates.selfSigned's lifetimes, against each other (values.schema.json
has each one a whole number of days, at least 1): the CA outlives the
certificates it signs, as `sre-quero certs` asks (SQ_CERT_OUTLIVES_CA), and
the renewal window falls inside the certificate's life.
*/}}
{{- define "sre-quero.selfSignedValidate" -}}
{{- $cfg := . }}
{{- $ca := int64 $cfg.caValidityDays }}
{{- $days := int64 $cfg.validityDays }}
{{- $renew := int64 $cfg.renewBeforeDays }}
{{- if le $ca $days }}
{{- fail (printf "certificates.selfSigned.caValidityDays (%d) must be greater than certificates.selfSigned.validityDays (%d): a certificate would outlive its CA (it stops verifying when the CA expires); raise caValidityDays or lower validityDays" $ca $days) }}
{{- end }}
{{- if ge $renew $days }}
{{- fail (printf "certificates.selfSigned.renewBeforeDays (%d) must be less than certificates.selfSigned.validityDays (%d): the certificate would be re-signed at every upgrade; lower renewBeforeDays" $renew $days) }}
{{- end }}
{{- end }}

{{/*
The self-signed CA and serving certificate, made once per rendering (memoised
on the root context, so the Secret and the webhook's caBundle agree) and kept
across upgrades: the Secrets already in the cluster are reused (lookup) while
the certificate names the same DNS names and has more than renewBeforeDays
left; then it is re-signed by the same CA, so the caBundle stays.

The CA's own not-after is recorded when it is made (annotation
sre-quero.io/ca-not-after on the CA Secret; Helm cannot read X.509) and
carried over. A certificate never outlives its CA: one is kept only when it
ends by the CA's not-after, and when one is signed and the CA would end
before it (now + validityDays), or has ended, a new CA is made with it (the
caBundle changes in the same release). A CA kept from a release without the
annotation has an unknown not-after: it is used as before, and the annotation
stays absent rather than guessed.

When a new CA replaces one that has not ended, the old one stays in the
caBundle of that release (previousCaCert): the API server trusts the
certificate the pods still serve until they read the new Secret (the server
re-reads it every 10 s), so the change of CA fails no call. The next upgrade
leaves it out.

Returns JSON {caCert, caKey, caNotAfter, previousCaCert, cert, key, notAfter,
dnsNames} (PEM; times in Unix seconds; caNotAfter 0 when unknown;
previousCaCert "" when none).
*/}}
{{- define "sre-quero.selfSigned" -}}
{{- if not (hasKey . "sreQueroSelfSigned") }}
{{- $cfg := .Values.certificates.selfSigned }}
{{- include "sre-quero.selfSignedValidate" $cfg }}
{{- $fullname := include "sre-quero.fullname" . }}
{{- $dnsNames := include "sre-quero.dnsNames" . | fromJsonArray }}
{{- $names := join "," $dnsNames }}
{{- $now := now | unixEpoch | int64 }}
{{- $validity := mul (int64 $cfg.validityDays) 86400 }}
{{- $caSecret := lookup "v1" "Secret" .Release.Namespace (printf "%s-ca" $fullname) }}
{{- $tlsSecret := lookup "v1" "Secret" .Release.Namespace (printf "%s-tls" $fullname) }}
{{- $ca := dict }}
{{- $previousCaCert := "" }}
{{- $caNotAfter := 0 | int64 }}
{{- $result := dict }}
{{- if and $caSecret (index ($caSecret.data | default dict) "tls.crt") (index ($caSecret.data | default dict) "tls.key") }}
{{- $ca = buildCustomCert (index $caSecret.data "tls.crt") (index $caSecret.data "tls.key") }}
{{- $recorded := index ($caSecret.metadata.annotations | default dict) "sre-quero.io/ca-not-after" | default "" | toString }}
{{- if regexMatch "^[0-9]+$" $recorded }}
{{- $caNotAfter = int64 $recorded }}
{{- end }}
{{- end }}
{{- $kept := false }}
{{- if and $ca.Cert $tlsSecret }}
{{- $annotations := $tlsSecret.metadata.annotations | default dict }}
{{- $notAfter := index $annotations "sre-quero.io/not-after" | default "0" | int64 }}
{{- $data := $tlsSecret.data | default dict }}
{{- $withinCa := or (eq $caNotAfter 0) (le $notAfter $caNotAfter) }}
{{- if and (index $data "tls.crt") (index $data "tls.key") (eq (index $annotations "sre-quero.io/dns-names" | default "") $names) (eq (index $data "ca.crt" | default "") ($ca.Cert | b64enc)) (gt (sub $notAfter $now) (mul (int64 $cfg.renewBeforeDays) 86400)) $withinCa }}
{{- $result = dict "cert" (index $data "tls.crt" | b64dec) "key" (index $data "tls.key" | b64dec) "notAfter" $notAfter }}
{{- $kept = true }}
{{- end }}
{{- end }}
{{- if not $kept }}
{{- /* An hour's leeway: the clock, and the time between this "now" and the signing. */}}
{{- if or (not $ca.Cert) (and (gt $caNotAfter 0) (lt $caNotAfter (add $now $validity 3600))) }}
{{- /* The CA it replaces, while it has not ended, stays in the caBundle for this release: the pods serve the certificate it signed until they read the new Secret. */}}
{{- if and $ca.Cert (gt $caNotAfter $now) }}
{{- $previousCaCert = $ca.Cert }}
{{- end }}
{{- $ca = genCA (printf "sre-quero CA for %s" (index $dnsNames 2)) (int $cfg.caValidityDays) }}
{{- $caNotAfter = add $now (mul (int64 $cfg.caValidityDays) 86400) }}
{{- end }}
{{- $cert := genSignedCert (index $dnsNames 2) nil $dnsNames (int $cfg.validityDays) $ca }}
{{- $result = dict "cert" $cert.Cert "key" $cert.Key "notAfter" (add $now $validity) }}
{{- end }}
{{- $_ := set $result "caCert" $ca.Cert }}
{{- $_ := set $result "caKey" $ca.Key }}
{{- $_ := set $result "caNotAfter" $caNotAfter }}
{{- $_ := set $result "previousCaCert" $previousCaCert }}
{{- $_ := set $result "dnsNames" $names }}
{{- $_ := set . "sreQueroSelfSigned" $result }}
{{- end }}
{{- toJson (get . "sreQueroSelfSigned") }}
{{- end }}

{{/* The webhook entries' caBundle (base64 PEM), or nothing when cert-manager injects it. */}}
{{- define "sre-quero.caBundle" -}}
{{- $source := .Values.certificates.source }}
{{- if eq $source "selfSigned" }}
{{- $certs := include "sre-quero.selfSigned" . | fromJson }}
{{- printf "%s%s" $certs.caCert $certs.previousCaCert | b64enc }}
{{- else if eq $source "existingSecret" }}
{{- $bundle := required "certificates.existingSecret.caBundle is required with certificates.source=existingSecret" .Values.certificates.existingSecret.caBundle }}
{{- if hasPrefix "-----BEGIN" (trim $bundle) }}{{ $bundle | b64enc }}{{ else }}{{ $bundle | nospace }}{{ end }}
{{- end }}
{{- end }}

{{/*
The injector's settings: the chart's knobs (agent, allowedAgents, images,
allowedImageRepositories, sidecarMode, loki.auth.credentialsSecret), then the
free-form `settings` over them. The forms from before the choice of agent in
`settings` (`image`, a plain list of allowedImageRepositories,
resources.requests and resources.limits) are written in the current form, so
they merge with the knobs and defaults instead of contradicting them (Helm
merges old-form resources with the per-agent defaults: a mix the server
refuses).
*/}}
{{- define "sre-quero.settings" -}}
{{- $v := .Values }}
{{- $fromKnobs := dict "agent" $v.agent "allowedAgents" (deepCopy $v.allowedAgents) "images" (deepCopy $v.images) "allowedImageRepositories" (deepCopy $v.allowedImageRepositories) "sidecarMode" $v.sidecarMode }}
{{- with $v.loki.auth.credentialsSecret }}
{{- $_ := set $fromKnobs "credentialsSecret" . }}
{{- end }}
{{- $own := deepCopy ($v.settings | default dict) }}
{{- if hasKey $own "image" }}
{{- $images := $own.images | default dict }}
{{- if and (hasKey $images "promtail") (ne (toString $images.promtail) (toString $own.image)) }}
{{- fail (printf "settings.image (%v) and settings.images.promtail (%v) name different images; image is the older name of images.promtail: keep one" $own.image $images.promtail) }}
{{- end }}
{{- $_ := set $images "promtail" $own.image }}
{{- $_ := set $own "images" $images }}
{{- $_ := unset $own "image" }}
{{- end }}
{{- if kindIs "slice" $own.allowedImageRepositories }}
{{- $_ := set $own "allowedImageRepositories" (dict "promtail" $own.allowedImageRepositories) }}
{{- end }}
{{- $resources := $own.resources | default dict }}
{{- if or (hasKey $resources "requests") (hasKey $resources "limits") }}
{{- $promtail := mergeOverwrite ($resources.promtail | default dict) (pick $resources "requests" "limits") }}
{{- $_ := set $own "resources" (merge (dict "promtail" $promtail) (omit $resources "requests" "limits")) }}
{{- end }}
{{- $settings := mergeOverwrite $fromKnobs $own }}
{{- if not (has $settings.agent $settings.allowedAgents) }}
{{- fail (printf "agent: %v is not among allowedAgents (%s); add it there or pick one of those" $settings.agent (join ", " $settings.allowedAgents)) }}
{{- end }}
{{- toYaml $settings }}
{{- end }}

{{/*
A string for config.alloy, as an Alloy expression: quoted, and each ${NAME}
(what promtail's -config.expand-env expands) read with sys.env("NAME").
*/}}
{{- define "sre-quero.alloyString" -}}
{{- $quoted := printf "\"%s\"" (. | replace `\` `\\` | replace `"` `\"`) }}
{{- $expression := regexReplaceAll `\$\{([A-Za-z_][A-Za-z0-9_]*)\}` $quoted `" + sys.env("${1}") + "` }}
{{- $expression = $expression | trimPrefix `"" + ` | trimSuffix ` + ""` }}
{{- if contains "${" $expression }}
{{- fail (printf "%q: config.alloy reads ${NAME} (sys.env); other ${...} forms are promtail's only: use ${NAME}, or give your own alloyTemplate" .) }}
{{- end }}
{{- $expression }}
{{- end }}

{{/*
Whether to render a Prometheus Operator object: its knob true, or "auto"
and the cluster serves the kind (Helm's Capabilities; `helm template` knows
it only with --api-versions monitoring.coreos.com/v1/<Kind>). Call with
(dict "root" $ "enabled" <knob> "kind" "ServiceMonitor"); "true" or "".
*/}}
{{- define "sre-quero.monitoringObject" -}}
{{- $enabled := toString .enabled }}
{{- if or (eq $enabled "true") (and (eq $enabled "auto") (.root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" .kind))) }}true{{ end }}
{{- end }}
