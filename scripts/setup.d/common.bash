# Helpers shared by the set-up steps (sourced, not run: setup.sh runs *.sh only).
# Every helper is idempotent: what is there at the wanted version is kept.

# The cache every step installs into (override with GITOPS_ML_CACHE).
GITOPS_ML_CACHE="${GITOPS_ML_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-ml}"

# apt_install PKG...: install the Debian packages that are not installed yet
# (with sudo when not root). The packages' own services are not started.
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# apt_service PKG SERVICE: apt_install PKG, and keep the service its package
# may start (a system etcd on :2379, Redis on :6379) stopped: the tests run their own.
apt_service() {
  dpkg -s "$1" >/dev/null 2>&1 && return 0
  apt_install "$1"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo systemctl disable --now "$2" >/dev/null 2>&1 || true
}

# The integrity of what a step caches (issue 23): a step that reuses what it
# built or installed checks it first against the sha256 it recorded then, and
# builds it again when they differ. This catches a corrupted or altered cache
# (a half-restored runner cache, a stray write); a process running as this
# user could rewrite the record too, which only a fresh runner per job rules
# out (SECURITY.md).

# cache_list ROOT...: the files under ROOT... (regular, or links to regular
# files), NUL-separated and sorted; the records themselves left out.
cache_list() {
  find "$@" \( -type f -o \( -type l -xtype f \) \) -not -name '.sha256' -not -name '.sha256.partial' -print0 |
    LC_ALL=C sort -z
}

# cache_record DIR ROOT...: write DIR/.sha256, the sha256 of every file under
# DIR/ROOT... (paths relative to DIR), in sha256sum's format.
cache_record() {
  local dir="$1"
  shift
  (cd "$dir" && cache_list "$@" | xargs -0 -r sha256sum -- >.sha256.partial && mv .sha256.partial .sha256)
}

# cache_verify DIR WHAT ROOT...: succeed when the files under DIR/ROOT... are
# those DIR/.sha256 records, with the same sha256 (a new .pyc aside: Python
# writes them as it imports); else say which differ and fail, so the step
# builds WHAT again. A cache made before records were kept gets one now.
cache_verify() {
  local dir="$1" what="$2" changed added
  shift 2
  if [ ! -f "$dir/.sha256" ]; then
    echo "$what: no sha256 recorded in $dir/.sha256 (cached before records were kept): recording them now"
    cache_record "$dir" "$@"
    return 0
  fi
  changed="$(cd "$dir" && { sha256sum --check --quiet .sha256 2>/dev/null || true; } |
    sed -n 's/: FAILED.*$//p' | tr '\n' ' ')"
  added="$(cd "$dir" && LC_ALL=C comm -23 <(cache_list "$@" | tr '\0' '\n') \
    <(sed 's/^[0-9a-f]\{64\}  //' .sha256 | LC_ALL=C sort) | { grep -v '\.pyc$' || true; } | tr '\n' ' ')"
  [ -z "$changed$added" ] && return 0
  echo "$what: the cache in $dir does not match the sha256 recorded when it was built" \
    "(${changed:+changed or missing: ${changed% }}${changed:+${added:+; }}${added:+not recorded: ${added% }}): building it again" >&2
  return 1
}

# python_venv DIR CHECK PIP_ARGS...: a virtualenv in DIR with PIP_ARGS
# installed, unless DIR/.installed is there, its files match their record
# (cache_verify, before any of them runs) and the shell command CHECK
# succeeds. A half-finished install (interrupted download) lacks the marker
# and is rebuilt from scratch; the marker is written only after success.
python_venv() {
  local dir="$1" check="$2"
  shift 2
  if [ -f "$dir/.installed" ] && cache_verify "$dir" "$dir" . && (eval "$check") >/dev/null 2>&1; then
    echo "already installed: $dir"
    return 0
  fi
  local py="${PYTHON:-python3}"
  command -v "$py" >/dev/null || { echo "python3 is needed to install into $dir ($py not found)" >&2; return 1; }
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
  (eval "$check")
  touch "$dir/.installed"
  cache_record "$dir" .
}

# go_module MODULE@VERSION: download a Go module through the proxy and set
# MOD_GOMOD (its go.mod), MOD_DIR (its source folder) and MOD_GO (its `go`
# directive); fails naming the module when the download did not work.
go_module() {
  local dl
  dl="$(go mod download -json "$1")"
  MOD_GOMOD="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$dl")"
  MOD_DIR="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$dl")"
  if [ ! -f "$MOD_GOMOD" ] || [ ! -d "$MOD_DIR" ]; then
    echo "could not download $1: $dl" >&2
    return 1
  fi
  MOD_GO="$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$MOD_GOMOD" | head -1)"
}

# wrapper_go_mod NAME MODULE VERSION: print the go.mod of a wrapper module
# NAME that requires MODULE@VERSION and copies that module's replace
# directives (go_module must have run for it: MOD_GOMOD, MOD_GO), one per
# line, "replace (" blocks and single lines, except those to a directory
# (./x, ../x), which only mean something inside the module's own repository.
# A `go build MODULE/cmd/...` in the wrapper then builds what upstream builds.
wrapper_go_mod() {
  echo "module $1"
  echo
  echo "go ${MOD_GO}"
  echo
  echo "require $2 $3"
  echo
  awk '
    /^replace[[:space:]]*\($/ { block = 1; next }
    block && /^\)/ { block = 0; next }
    block { line = $0 }
    !block && /^replace[[:space:]]/ { line = $0; sub(/^replace[[:space:]]+/, "", line) }
    line != "" {
      sub(/\/\/.*/, "", line); gsub(/^[[:space:]]+|[[:space:]]+$/, "", line)
      if (line != "" && line !~ /=>[[:space:]]*\.\.?\//) print "replace " line
      line = ""
    }
  ' "$MOD_GOMOD"
}

# go_build_dir WHAT TOOLCHAIN SRC: check that go is there, set the build
# environment (GOTOOLCHAIN, module mode, no VCS stamps, static binaries), and
# cd into a fresh SRC for a wrapper module.
go_build_dir() {
  command -v go >/dev/null 2>&1 || { echo "go is required to build $1 (from the Go module proxy)" >&2; return 1; }
  export GOTOOLCHAIN="$2" GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
  rm -rf "$3"; mkdir -p "$3"
  cd "$3"
}
