#!/usr/bin/env bash
# Idempotent set-up: .venv with the project installed (skipped when pyproject.toml is unchanged),
# and the Fashion-MNIST files (Debian package dataset-fashion-mnist).
# Usage: scripts/setup.sh [--test]   (--test also installs what the test suite needs)
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[[ "${1:-}" == "--test" ]] && with_tests=1

apt_install() {  # apt_install PACKAGE... — only where apt-get exists and we may use it
  if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    if [[ ! -f /tmp/.rle-apt-updated ]]; then
      apt-get update -qq && touch /tmp/.rle-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    return 1
  fi
}

if [[ ! -x .venv/bin/python ]]; then
  echo "[setup] creating .venv"
  python3 -m venv .venv
fi
extras="[test]"
stamp=".venv/.rle-installed"
want="$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)-$extras"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "[setup] installing the project and its dependencies into .venv (first time: a few minutes)"
  # requirements.lock pins every package to the versions tested (made by scripts/lock.py).
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".$extras"
  echo "$want" > "$stamp"
fi

if [[ ! -d /usr/share/datasets/fashion-mnist ]]; then
  echo "[setup] installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
  apt_install dataset-fashion-mnist || {
    echo "[setup] cannot install dataset-fashion-mnist here. Provide the files yourself:" >&2
    echo "        put {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz into /usr/share/datasets/fashion-mnist" >&2
    echo "        or into cache/data/FashionMNIST/raw/ (unzipped or .gz)." >&2
  }
fi

if [[ $with_tests -eq 1 && ! -x /usr/bin/chromium ]]; then
  echo "[setup] installing chromium and chromium-driver for the browser test"
  apt_install chromium chromium-driver || echo "[setup] chromium unavailable: the browser test will say so" >&2
fi
