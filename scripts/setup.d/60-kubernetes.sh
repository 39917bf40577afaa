#!/usr/bin/env bash
# A real Kubernetes control plane for the e2e tests and `npm run cluster`
# (testing/kube.ts, tools/cluster/): Debian's etcd-server, plus
# kube-apiserver, kube-controller-manager and kube-scheduler built from the Go
# module proxy in one `go build`, so the three share one module graph and one
# compile of the packages they have in common.
#
# k8s.io/kubernetes cannot be `go install`ed because its go.mod replaces every
# staging module (k8s.io/api, k8s.io/apimachinery, ...) with ./staging/...; so
# we write a tiny module that requires k8s.io/kubernetes and replaces each of
# those staging modules with its published v0.<minor>.<patch> tag, copy each
# command's upstream main file out of the downloaded k8s.io/kubernetes module,
# and build them.
#
# Idempotent and cached: the binaries land in $KUBE_CACHE/bin (default
# ~/.cache/gitops-ml/kubernetes-<version>/bin). They are built into a
# temporary folder that replaces bin/ only once all three linked, so a
# half-finished build never counts as done; a version bump builds anew, and
# so does a binary that differs from the sha256 recorded when it was built.
set -euo pipefail
source "$(dirname "$0")/common.bash"

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
KUBE_CACHE="${KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-ml/kubernetes-$KUBE_VERSION}"
COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler)

# 1. etcd (Debian's etcd-server ships /usr/bin/etcd).
command -v etcd >/dev/null 2>&1 || apt_service etcd-server etcd

# 2. The control-plane binaries.
built=1
for c in "${COMMANDS[@]}"; do [ -x "$KUBE_CACHE/bin/$c" ] || built=0; done
if [ "$built" = 1 ] && cache_verify "$KUBE_CACHE" "kubernetes $KUBE_VERSION" bin; then
  echo "kubernetes $KUBE_VERSION already built: $KUBE_CACHE/bin/{$(IFS=,; echo "${COMMANDS[*]}")}"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "go is required to build kube-apiserver et al. (from the Go module proxy)" >&2; exit 1; }
export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0

SRC="$KUBE_CACHE/src"
rm -rf "$SRC"
mkdir -p "$SRC"
cd "$SRC"

# k8s.io/kubernetes' own go.mod, to list its staging replaces; its Dir, for the mains.
go_module "k8s.io/kubernetes@$KUBE_VERSION"
KGOMOD="$MOD_GOMOD"; KDIR="$MOD_DIR"; GO_DIRECTIVE="$MOD_GO"

{
  echo "module gitops-ml.local/kubernetes"
  echo
  echo "go ${GO_DIRECTIVE:-1.24}"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  # Lines such as "k8s.io/api => ./staging/src/k8s.io/api" (inside a replace block or not).
  grep -Eo 'k8s\.io/[A-Za-z0-9._/-]+ => \./staging/src/k8s\.io/[A-Za-z0-9._/-]+' "$KGOMOD" |
    awk -v v="$STAGING_VERSION" '{ print "replace " $1 " => " $1 " " v }'
} > go.mod

# Each command's upstream main package, as released (one file each).
for c in "${COMMANDS[@]}"; do
  mkdir -p "cmd/$c"
  for f in "$KDIR/cmd/$c"/*.go; do
    case "$f" in *_test.go) continue ;; esac
    cp "$f" "cmd/$c/"
  done
  chmod -R u+w "cmd/$c"
done

echo "building ${COMMANDS[*]} $KUBE_VERSION (cold: about 1,000 CPU seconds, 9 minutes on 2 idle cores)..."
start=$(date +%s)
go mod tidy
MINOR="${KUBE_VERSION#v1.}"; MINOR="${MINOR%%.*}"
# The version stamps an official build carries (what /version and `--version` report).
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS="$LDFLAGS -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR -X $pkg.gitTreeState=clean"
done
OUT="$KUBE_CACHE/bin.partial"
rm -rf "$OUT"; mkdir -p "$OUT"
go build -trimpath -ldflags="$LDFLAGS" -o "$OUT/" $(printf './cmd/%s ' "${COMMANDS[@]}")
for c in "${COMMANDS[@]}"; do "$OUT/$c" --version; done
rm -rf "$KUBE_CACHE/bin"
mv "$OUT" "$KUBE_CACHE/bin"
cache_record "$KUBE_CACHE" bin
echo "built $KUBE_CACHE/bin/{$(IFS=,; echo "${COMMANDS[*]}")} in $(( $(date +%s) - start ))s"
