#!/usr/bin/env bash
# A real Kubernetes API server for the rollout / training-Job e2e tests
# (lib/testing/kube.ts): Debian's etcd-server, plus kube-apiserver built from
# the Go module proxy.
#
# k8s.io/kubernetes cannot be `go install`ed because its go.mod replaces every
# staging module (k8s.io/api, k8s.io/apimachinery, ...) with ./staging/...; so
# we write a tiny module that requires k8s.io/kubernetes and replaces each of
# those staging modules with its published v0.<minor>.<patch> tag, and build
# cmd/kube-apiserver/app.NewAPIServerCommand() from it.
#
# Idempotent and cached: the binary lands in $KUBE_CACHE/bin/kube-apiserver
# (default ~/.cache/gitops-ml/kube-apiserver-<version>) and is skipped when present.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
KUBE_CACHE="${KUBE_CACHE:-$HOME/.cache/gitops-ml/kube-apiserver-$KUBE_VERSION}"
BIN="$KUBE_CACHE/bin/kube-apiserver"

# 1. etcd (Debian's etcd-server ships /usr/bin/etcd).
if ! command -v etcd >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends etcd-server
  # The package may start a system etcd on :2379; the tests run their own.
  $SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
fi

# 2. kube-apiserver.
if [ -x "$BIN" ]; then
  echo "kube-apiserver $KUBE_VERSION already built: $BIN"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "go is required to build kube-apiserver" >&2; exit 1; }

SRC="$KUBE_CACHE/src"
mkdir -p "$SRC" "$KUBE_CACHE/bin"
cd "$SRC"

# k8s.io/kubernetes' own go.mod, to list its staging replaces.
KGOMOD="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
[ -f "$KGOMOD" ] || { echo "could not download k8s.io/kubernetes@$KUBE_VERSION go.mod" >&2; exit 1; }
GO_DIRECTIVE="$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$KGOMOD" | head -1)"

{
  echo "module gitops-ml.local/kube-apiserver"
  echo
  echo "go ${GO_DIRECTIVE:-1.24}"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  # Lines such as "k8s.io/api => ./staging/src/k8s.io/api" (inside a replace block or not).
  grep -Eo 'k8s\.io/[A-Za-z0-9._/-]+ => \./staging/src/k8s\.io/[A-Za-z0-9._/-]+' "$KGOMOD" |
    awk -v v="$STAGING_VERSION" '{ print "replace " $1 " => " $1 " " v }'
} > go.mod

cat > main.go <<'EOF'
// Command kube-apiserver: the upstream API server, built from Go modules for tests.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
EOF

echo "building kube-apiserver $KUBE_VERSION (several minutes on 2 cores)..."
GOFLAGS="-mod=mod -buildvcs=false" go mod tidy
MINOR="${KUBE_VERSION#v1.}"; MINOR="${MINOR%%.*}"
# The version stamps an official build carries (what /version and `kube-apiserver --version` report).
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS="$LDFLAGS -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR -X $pkg.gitTreeState=clean"
done
CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -ldflags="$LDFLAGS" -o "$BIN.tmp" .
mv "$BIN.tmp" "$BIN"
echo "built $BIN"
