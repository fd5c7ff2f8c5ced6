#!/usr/bin/env bash
# The real programs the tests talk to (npm test runs this first; so does .ci/run).
# Each Debian/Ubuntu package, with the command that shows it is there (on PATH):
# docker-registry and skopeo are the peers; umoci unpacks images to compare with
# `dray export`; podman and buildah read and write what dray writes; openssl makes
# the TLS and token-signing certificates; apache2-utils brings htpasswd for the
# registry's basic-auth mode; dbus, gnome-keyring, libsecret-1-0 and
# libsecret-tools run the OS-keychain path (`dray login --keychain`) for real;
# zsh and fish load the completion scripts.
# What is missing is installed with apt-get when this runs as root or with
# passwordless sudo; otherwise it stops, before any test, with one line naming
# the command to run. Nothing is printed when everything is there.
set -euo pipefail

PEERS=(
  "docker-registry docker-registry"
  "skopeo skopeo"
  "umoci umoci"
  "podman podman"
  "buildah buildah"
  "openssl openssl"
  "apache2-utils htpasswd"
  "dbus dbus-run-session"
  "gnome-keyring gnome-keyring-daemon"
  "libsecret-1-0 lib:libsecret-1.so.0"
  "libsecret-tools secret-tool"
  "zsh zsh"
  "fish fish"
)

present() {
  case "$1" in
    # ldconfig lives in /sbin, which a Debian user's PATH leaves out.
    # Read whole before grep: `ldconfig -p | grep -q` under pipefail fails whenever grep
    # finds the name and exits before ldconfig has written everything (SIGPIPE), a race.
    lib:*) grep -qF "${1#lib:} " <<<"$(PATH="${PATH}:/usr/sbin:/sbin" ldconfig -p 2>/dev/null)" ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing_packages=()
missing_commands=()
scan() {
  missing_packages=()
  missing_commands=()
  local entry pkg probe
  for entry in "${PEERS[@]}"; do
    pkg="${entry%% *}"
    probe="${entry#* }"
    if ! present "$probe"; then
      missing_packages+=("$pkg")
      missing_commands+=("${probe#lib:}")
    fi
  done
}

scan
[ "${#missing_packages[@]}" -eq 0 ] && exit 0

list() { local IFS=,; echo "$*" | sed 's/,/, /g'; }
need="dray's tests need $(list "${missing_commands[@]}") (not found)"
install="apt-get install -y ${missing_packages[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
  echo "$need; install the packages ${missing_packages[*]} (Debian/Ubuntu names) with your system's package manager" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
  as_root=(sudo -n)
else
  if command -v sudo >/dev/null 2>&1; then
    echo "$need; run: sudo apt-get update && sudo $install" >&2
  else
    echo "$need; run as root: apt-get update && $install" >&2
  fi
  exit 1
fi

echo "installing test peers: ${missing_packages[*]}" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq -o DPkg::Lock::Timeout=600 &&
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing_packages[@]}"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "$need; \`${as_root[*]}${as_root[*]:+ }$install\` failed (above)" >&2
  exit 1
fi
scan
if [ "${#missing_packages[@]}" -ne 0 ]; then
  echo "dray's tests need $(list "${missing_commands[@]}"): still not found on PATH after installing ${missing_packages[*]}" >&2
  exit 1
fi
