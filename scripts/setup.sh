#!/usr/bin/env bash
# One-time (and repeatable) set-up on a fresh Debian machine: system packages,
# the Python virtual environment, the Kafka broker's jars. Safe to run again:
# every step checks first and skips what is already done.
#   scripts/setup.sh          runtime + test dependencies
#   scripts/setup.sh --browser  also Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

want_browser=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) die "unknown option $arg (try --help)" ;;
  esac
done

# --- system packages --------------------------------------------------------
missing=()
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox libsox-fmt-all)
command -v java >/dev/null || missing+=(default-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
if [ "$want_browser" = 1 ] && ! command -v chromium >/dev/null; then missing+=(chromium); fi
# deploy/ checks (tests/integration/test_deploy_config.py) without a Docker engine: compose and
# kustomize, installed without recommends (docker-compose would bring the Docker engine along).
deploy_tools=()
command -v docker-compose >/dev/null || deploy_tools+=(docker-compose)
command -v kubectl >/dev/null || deploy_tools+=(kubernetes-client)
# promtool: taken out of Debian's prometheus package below, so no Prometheus server gets installed.
need_promtool=0
command -v promtool >/dev/null || [ -x .venv/bin/promtool ] || need_promtool=1
if [ ${#missing[@]} -gt 0 ] || [ ${#deploy_tools[@]} -gt 0 ] || [ "$need_promtool" = 1 ]; then
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install ${missing[*]} ${deploy_tools[*]}"
    sudo_cmd="sudo"
  fi
  $sudo_cmd apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ${#deploy_tools[@]} -gt 0 ]; then
    say "installing deploy check tools: ${deploy_tools[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${deploy_tools[@]}" >/dev/null
  fi
fi

# --- Python environment -----------------------------------------------------
py=""
for candidate in python3.11 python3.12 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    py=$candidate; break
  fi
done
[ -n "$py" ] || die "Python 3.11 or newer is needed (apt-get install python3.11)"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($py --version)"
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip uv >/dev/null
say "installing callradar and its dependencies into .venv (torch is large: first run takes minutes)"
.venv/bin/uv pip install -q --python .venv/bin/python -e '.[dev]'

# --- promtool (from Debian's prometheus package, without installing the server) ----
if [ "$need_promtool" = 1 ]; then
  say "extracting promtool from Debian's prometheus package into .venv/bin"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1 && dpkg-deb -x prometheus_*.deb x) \
    || die "could not download Debian's prometheus package (apt-get download prometheus)"
  install -m 0755 "$tmp/x/usr/bin/promtool" .venv/bin/promtool
  rm -rf "$tmp"
fi

# --- Kafka broker jars ------------------------------------------------------
say "fetching the Apache Kafka broker (cached after the first run)"
.venv/bin/callradar kafka fetch

if [ "$want_browser" = 1 ]; then
  say "browser tests use $(command -v chromium)"
fi
say "ready: .venv/bin/callradar --help"
