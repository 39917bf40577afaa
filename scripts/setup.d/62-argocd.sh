#!/usr/bin/env bash
# Argo CD for the local cluster of `npm run cluster` (tools/cluster/): the
# application-controller, applicationset-controller and repo-server, run as
# local processes against the local kube-apiserver, with Debian's redis-server
# as their cache.
#
# Argo CD ships one multi-call binary (cmd/main.go) that runs the component
# named by argv[0] (or $ARGOCD_BINARY_NAME). github.com/argoproj/argo-cd/v3
# cannot be `go install`ed because its go.mod has replace directives (pinning
# k8s.io/* and a few others), so we write a tiny wrapper module that requires
# it and copies that replace block, leaving out the directory replace of its
# gitops-engine (the module proxy serves the tagged
# github.com/argoproj/argo-cd/gitops-engine/v3 instead), then build
# github.com/argoproj/argo-cd/v3/cmd from it.
#
# Argo CD's go.mod asks for a newer Go than the machine's; GOTOOLCHAIN makes
# the go command fetch that toolchain from the Go module proxy (76 MB, once).
#
# The install manifests come from Argo CD itself: manifests/crds/ and
# manifests/install.yaml are copied out of the downloaded module (not a
# trimmed copy) into $ARGOCD_CACHE/manifests.
#
# Idempotent and cached in $ARGOCD_CACHE (default
# ~/.cache/gitops-ml/argocd-<version>): built into a temporary folder that
# replaces bin/ only once everything is in place; a version bump builds anew,
# and so does a cache that differs from the sha256 recorded when it was built.
set -euo pipefail
source "$(dirname "$0")/common.bash"

ARGOCD_VERSION="${ARGOCD_VERSION:-v3.6.1}"
ARGOCD_GOTOOLCHAIN="${ARGOCD_GOTOOLCHAIN:-go1.27.3}"
ARGOCD_CACHE="${ARGOCD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-ml/argocd-$ARGOCD_VERSION}"
# repo-server runs the `kustomize` binary it finds on PATH. Argo CD v3.6.1's
# images bundle v5.8.3 (its hack/tool-versions.sh), but v5.8.3's go.mod needs a
# k8s.io/kube-openapi version the module proxy does not serve; v5.8.1 is the
# kustomize Argo CD v3.6.1 itself links (sigs.k8s.io/kustomize/api v0.21.1 in
# its go.mod) and builds with the machine's Go.
KUSTOMIZE_VERSION="${ARGOCD_KUSTOMIZE_VERSION:-v5.8.1}"
# The components tools/cluster runs, and the git credential helper repo-server execs.
LINKS=(argocd-application-controller argocd-applicationset-controller argocd-repo-server argocd-git-ask-pass)
# The helper scripts Argo CD's image puts on PATH (its Dockerfile), which
# repo-server execs: it checks every commit with git-verify-wrapper.sh and
# fails the manifest generation ("permission denied") when it is missing.
WRAPPERS=(git-verify-wrapper.sh gpg-wrapper.sh)

# 1. Redis (Debian's redis-server ships /usr/bin/redis-server).
command -v redis-server >/dev/null 2>&1 || apt_service redis-server redis-server

# 2. Argo CD.
done_=1
for f in bin/argocd bin/kustomize manifests/install.yaml manifests/crds/application-crd.yaml; do
  [ -e "$ARGOCD_CACHE/$f" ] || done_=0
done
for l in "${LINKS[@]}" "${WRAPPERS[@]}"; do [ -x "$ARGOCD_CACHE/bin/$l" ] || done_=0; done
if [ "$done_" = 1 ] && cache_verify "$ARGOCD_CACHE" "argocd $ARGOCD_VERSION" bin manifests; then
  echo "argocd $ARGOCD_VERSION already built: $ARGOCD_CACHE/bin/argocd"
  exit 0
fi
SRC="$ARGOCD_CACHE/src"
go_build_dir "Argo CD" "$ARGOCD_GOTOOLCHAIN" "$SRC"

echo "building argocd $ARGOCD_VERSION with $GOTOOLCHAIN (cold: about 1,150 CPU seconds, 11 minutes on 2 idle cores)..."
start=$(date +%s)
go_module "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION"
ADIR="$MOD_DIR"

wrapper_go_mod gitops-ml.local/argocd "github.com/argoproj/argo-cd/v3" "$ARGOCD_VERSION" > go.mod

# The same version stamps Argo CD's Makefile sets (a clean, tagged build).
PKG=github.com/argoproj/argo-cd/v3/common
KUBECTL_VERSION="$(sed -n 's/^[[:space:]]*k8s.io\/client-go => k8s.io\/client-go \(v[0-9.]*\).*/\1/p' go.mod)"
LDFLAGS="-s -w -X $PKG.version=${ARGOCD_VERSION#v} -X $PKG.gitTag=$ARGOCD_VERSION -X $PKG.gitTreeState=clean"
LDFLAGS="$LDFLAGS -X $PKG.gitCommit=$ARGOCD_VERSION -X $PKG.kubectlVersion=$KUBECTL_VERSION"
go get "github.com/argoproj/argo-cd/v3/cmd@$ARGOCD_VERSION"
OUT="$ARGOCD_CACHE/partial"
rm -rf "$OUT"; mkdir -p "$OUT/bin" "$OUT/manifests"
GODEBUG="tarinsecurepath=0,zipinsecurepath=0" go build -trimpath -ldflags="$LDFLAGS" -o "$OUT/bin/argocd" github.com/argoproj/argo-cd/v3/cmd
for l in "${LINKS[@]}"; do ln -s argocd "$OUT/bin/$l"; done
GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOBIN="$OUT/bin" go install -trimpath -ldflags="-s -w" \
  "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
"$OUT/bin/kustomize" version
"$OUT/bin/argocd-application-controller" version 2>/dev/null || "$OUT/bin/argocd" version --client --short
for w in "${WRAPPERS[@]}"; do install -m 0755 "$ADIR/hack/$w" "$OUT/bin/$w"; done
cp -r "$ADIR/manifests/crds" "$OUT/manifests/crds"
cp "$ADIR/manifests/install.yaml" "$OUT/manifests/install.yaml"
chmod -R u+w "$OUT/manifests"
rm -rf "$ARGOCD_CACHE/bin" "$ARGOCD_CACHE/manifests"
mv "$OUT/bin" "$ARGOCD_CACHE/bin"
mv "$OUT/manifests" "$ARGOCD_CACHE/manifests"
rmdir "$OUT"
cache_record "$ARGOCD_CACHE" bin manifests
echo "built $ARGOCD_CACHE/bin/argocd in $(( $(date +%s) - start ))s"
