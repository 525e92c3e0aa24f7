#!/usr/bin/env bash
# Builds the Pulumi CLI and the plugins our program needs from the Go module proxy, because no
# registry we reach serves a Pulumi CLI binary (docs/pulumi-cli.md says what builds and what cannot).
#
#   scripts/build-pulumi-cli.sh               CLI + Python language host (6-11 min cold on 2 cores)
#   scripts/build-pulumi-cli.sh --kubernetes  also pulumi-resource-kubernetes (16-24 min more, cold)
#   export PATH="$PWD/.cache/pulumi/bin:$PATH"
#
# Idempotent: each artefact carries a stamp of what it was built from, and is rebuilt only when
# that changes. Go caches live under .cache/go so a fresh clone never touches ~/go.
set -euo pipefail

WITH_KUBERNETES=0
for arg in "$@"; do
    case "$arg" in
        --kubernetes) WITH_KUBERNETES=1 ;;
        *) printf 'usage: %s [--kubernetes]\n' "$0" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.cache/pulumi/bin"
SRC="$ROOT/.cache/pulumi/src"

# The Python SDK in .venv is 3.272.0, but the proxy serves github.com/pulumi/pulumi/pkg/v3 only at
# some versions (not 3.270-3.273): 3.274.0 is the nearest served one, and a CLI newer than the SDK
# is a supported combination.
PULUMI_VERSION="3.274.0"
# pulumi-kubernetes' provider module is served only at this pseudo-version, the v4.25.0 release
# commit; no tagged version (4.34.2 included) is served.
K8S_PROVIDER_VERSION="4.25.0"
K8S_PROVIDER_MODULE="github.com/pulumi/pulumi-kubernetes/provider/v4"
K8S_PROVIDER_MODULE_VERSION="v4.0.0-20260115033456-f47bc2d6f199"

export GOPATH="$ROOT/.cache/go"
export GOMODCACHE="$ROOT/.cache/go/mod"
export GOCACHE="$ROOT/.cache/go/build"
# -modcacherw keeps the module cache deletable with a plain `rm -rf .cache`.
export GOFLAGS="-mod=mod -modcacherw"
export GOTOOLCHAIN="local"
export CGO_ENABLED=0

log() { printf '[build-pulumi-cli] %s\n' "$*" >&2; }

command -v go >/dev/null || { log "go is not installed"; exit 1; }
mkdir -p "$BIN" "$SRC"

# up_to_date NAME KEY: true when $BIN/NAME exists and was built from KEY.
up_to_date() {
    [[ -x "$BIN/$1" && -f "$BIN/.$1.stamp" && "$(cat "$BIN/.$1.stamp")" == "$2" ]]
}
stamp() { printf '%s' "$2" >"$BIN/.$1.stamp"; }

timed() {
    local name="$1" start
    shift
    start=$(date +%s)
    "$@"
    log "built $name in $(($(date +%s) - start))s"
}

module_dir() {
    go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

build_cli() {
    local dir="$SRC/pulumi-cli"
    mkdir -p "$dir"
    # pkg/v3's own go.mod replaces sdk/v3 with ../sdk (refused by `go install`); requiring the
    # published sdk/v3 of the same version stands in for it. Its one non-local replace is repeated.
    cat >"$dir/go.mod" <<EOF
module clickstreamer.local/pulumi-cli

go 1.26.6

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
EOF
    cat >"$dir/tools.go" <<'EOF'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
EOF
    (cd "$dir" && go mod tidy && go build -trimpath \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
        -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
}

build_language_host() {
    # Our own host (scripts/pulumi-language-python): Pulumi's is in a module the proxy does not serve.
    (cd "$ROOT/scripts/pulumi-language-python" && go build -mod=readonly -trimpath \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
        -o "$BIN/pulumi-language-python" .)
}

install_python_shims() {
    # The executor our host runs, and the dynamic-provider shim the engine looks for next to the CLI,
    # both shipped inside the github.com/pulumi/pulumi/sdk/v3 module.
    local sdk
    sdk="$(module_dir "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION")"
    [[ -n "$sdk" ]] || { log "could not download github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"; return 1; }
    install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec"
    install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$BIN/pulumi-resource-pulumi-python"
}

build_kubernetes_provider() {
    local dir="$SRC/pulumi-resource-kubernetes" mod
    mod="$(module_dir "$K8S_PROVIDER_MODULE@$K8S_PROVIDER_MODULE_VERSION")"
    [[ -n "$mod" ]] || { log "could not download $K8S_PROVIDER_MODULE@$K8S_PROVIDER_MODULE_VERSION"; return 1; }
    rm -rf "$dir" && mkdir -p "$dir"
    # The provider's main package embeds schema files that its own `go generate` writes, so it is
    # built from a writable copy; the copy stays in .cache.
    cp "$mod"/cmd/pulumi-resource-kubernetes/{main.go,generate.go,schema.json,terraform-mapping.json} "$dir/"
    chmod u+w "$dir"/*
    # provider/v4 replaces sdk/v4 with ../sdk; the published sdk/v4 of the same release stands in.
    cat >"$dir/go.mod" <<EOF
module clickstreamer.local/pulumi-resource-kubernetes

go 1.26.6

require (
	$K8S_PROVIDER_MODULE $K8S_PROVIDER_MODULE_VERSION
	github.com/pulumi/pulumi-kubernetes/sdk/v4 v$K8S_PROVIDER_VERSION
)
EOF
    (cd "$dir" && go mod tidy && VERSION="$K8S_PROVIDER_VERSION" go run generate.go \
        && go build -trimpath \
            -ldflags "-s -w -X $K8S_PROVIDER_MODULE/pkg/version.Version=$K8S_PROVIDER_VERSION" \
            -o "$BIN/pulumi-resource-kubernetes" .)
}

built=()

key="pulumi-cli v$PULUMI_VERSION $(go env GOVERSION)"
if up_to_date pulumi "$key"; then
    log "pulumi v$PULUMI_VERSION is up to date"
else
    timed "pulumi v$PULUMI_VERSION" build_cli
    stamp pulumi "$key"
    built+=("pulumi v$PULUMI_VERSION")
fi

host_src="$ROOT/scripts/pulumi-language-python"
key="language-host v$PULUMI_VERSION $(go env GOVERSION) $(cat "$host_src/main.go" "$host_src/go.mod" "$host_src/go.sum" | sha256sum | cut -c1-16)"
if up_to_date pulumi-language-python "$key"; then
    log "pulumi-language-python is up to date"
else
    timed pulumi-language-python build_language_host
    stamp pulumi-language-python "$key"
    built+=("pulumi-language-python (ours, sdk v$PULUMI_VERSION)")
fi

key="python-shims v$PULUMI_VERSION"
if up_to_date pulumi-language-python-exec "$key" && [[ -x "$BIN/pulumi-resource-pulumi-python" ]]; then
    log "python executor and dynamic-provider shim are up to date"
else
    install_python_shims
    stamp pulumi-language-python-exec "$key"
    built+=("pulumi-language-python-exec, pulumi-resource-pulumi-python (sdk v$PULUMI_VERSION)")
fi

key="kubernetes $K8S_PROVIDER_MODULE_VERSION $(go env GOVERSION)"
if ((!WITH_KUBERNETES)); then
    log "pulumi-resource-kubernetes skipped (pass --kubernetes to build it)"
elif up_to_date pulumi-resource-kubernetes "$key"; then
    log "pulumi-resource-kubernetes v$K8S_PROVIDER_VERSION is up to date"
else
    timed "pulumi-resource-kubernetes v$K8S_PROVIDER_VERSION" build_kubernetes_provider
    stamp pulumi-resource-kubernetes "$key"
    built+=("pulumi-resource-kubernetes v$K8S_PROVIDER_VERSION")
fi

if ((${#built[@]})); then
    log "built into $BIN: $(IFS=';'; echo "${built[*]}")"
else
    log "nothing to build: $BIN is up to date"
fi
log "not built (not served by the Go module proxy): pulumi-resource-docker, pulumi-resource-random"
"$BIN/pulumi" version >/dev/null
