#!/usr/bin/env bash
# prometheus-operator's CustomResourceDefinitions (ServiceMonitor,
# PrometheusRule, ...) for the local cluster of `npm run cluster`
# (tools/cluster/): the serving overlays sync a ServiceMonitor and
# manifests/monitoring a PrometheusRule, which the API server accepts only
# once these CRDs are installed, as on any cluster that runs the operator.
#
# Nothing is built: the CRDs are prometheus-operator's own
# example/prometheus-operator-crd/*.yaml (what its bundle.yaml and Helm chart
# install), copied out of the module the Go module proxy serves, not a trimmed
# copy. v0.85.0 is the newest version the proxy serves under this module path.
#
# Idempotent and cached in $PROMETHEUS_OPERATOR_CACHE (default
# ~/.cache/gitops-ml/prometheus-operator-<version>/crds/); copied into a
# temporary folder that becomes crds/ only once every file is there; copied
# again when they differ from the sha256 recorded then.
set -euo pipefail
source "$(dirname "$0")/common.bash"

PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
PROMETHEUS_OPERATOR_CACHE="${PROMETHEUS_OPERATOR_CACHE:-$GITOPS_ML_CACHE/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION}"
CRDS="$PROMETHEUS_OPERATOR_CACHE/crds"

if [ -f "$CRDS/monitoring.coreos.com_servicemonitors.yaml" ] && [ -f "$CRDS/monitoring.coreos.com_prometheusrules.yaml" ] \
  && cache_verify "$PROMETHEUS_OPERATOR_CACHE" "prometheus-operator $PROMETHEUS_OPERATOR_VERSION CRDs" crds; then
  echo "prometheus-operator $PROMETHEUS_OPERATOR_VERSION CRDs already there: $CRDS"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "go is required to download prometheus-operator's CRDs (from the Go module proxy)" >&2; exit 1; }

start=$(date +%s)
go_module "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"
OUT="$PROMETHEUS_OPERATOR_CACHE/crds.partial"
rm -rf "$OUT"; mkdir -p "$OUT"
cp "$MOD_DIR"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml "$OUT/"
chmod -R u+w "$OUT"
rm -rf "$CRDS"
mv "$OUT" "$CRDS"
cache_record "$PROMETHEUS_OPERATOR_CACHE" crds
echo "copied $(ls "$CRDS" | wc -l) prometheus-operator $PROMETHEUS_OPERATOR_VERSION CRDs into $CRDS in $(( $(date +%s) - start ))s"
