#!/usr/bin/env bash
# One entry point for people and CI.
#   ./run.sh app          set up .venv (first time only) and start the app on the shipped models
#   ./run.sh test         set up .venv + Chromium and run the test suite (what CI runs)
#   ./run.sh test-all     same, including tests marked slow (long training, 8 browser sessions)
#   ./run.sh bench        run the benchmarks in bench/ and print their tables
# Extra arguments are passed on (to `gan-explorer serve` for app, to pytest for test).
set -euo pipefail
cd "$(dirname "$0")"

VENV=${GAN_EXPLORER_VENV:-.venv}
PY="$VENV/bin/python"

setup_python() {
    if [ ! -x "$PY" ]; then
        echo "==> creating virtual environment in $VENV"
        python3 -m venv "$VENV"
    fi
    # Reinstall only when the dependency list changed since the last successful install.
    local stamp="$VENV/.gan-explorer-installed"
    local want
    want=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "==> installing GAN Explorer and its dependencies (first run takes a few minutes)"
        "$PY" -m pip install --quiet --upgrade pip
        # torch first: on machines with a local wheel cache this picks the local build.
        "$PY" -m pip install --quiet "torch>=2.4" "torchvision>=0.19"
        "$PY" -m pip install --quiet -e ".[test]"
        echo "$want" > "$stamp"
    fi
}

setup_browser() {
    if [ ! -x /usr/bin/chromium ]; then
        echo "==> installing Chromium for the browser tests"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    fi
}

setup_test_data() {
    # The ImageNet-trunk converter is checked against its source, the npm package nsfwjs 4.4.0
    # (25 MB, from the npm registry; cached in .cache/). Without npm the test says it skipped.
    local tgz=.cache/nsfwjs-4.4.0.tgz
    if [ ! -f "$tgz" ] && command -v npm >/dev/null 2>&1; then
        echo "==> fetching nsfwjs 4.4.0 from the npm registry (checks the ImageNet-trunk conversion)"
        mkdir -p .cache
        (cd .cache && npm pack nsfwjs@4.4.0 --silent >/dev/null 2>&1) || echo "    (npm pack failed; that test will be skipped)"
    fi
    [ -f "$tgz" ] && export NSFWJS_TARBALL="$PWD/$tgz"
    # The TensorFlow.js importer is checked against TensorFlow.js itself: the models of
    # @upscalerjs/esrgan-slim 1.0.0 and 1.0.0-beta.6 (4 MB each) run in node by @tensorflow/tfjs 4.22.0 (pure-JS CPU
    # backend; ~300 MB installed), both from the npm registry into .cache/. tests/test_tfjs.py
    # fetches them itself when this did not, and skips only where npm is absent.
    if command -v npm >/dev/null 2>&1; then
        mkdir -p .cache
        if [ ! -f .cache/esrgan-slim/package/models/x4/model.json ]; then
            echo "==> fetching @upscalerjs/esrgan-slim 1.0.0 from the npm registry (TF.js import tests)"
            (cd .cache && npm pack @upscalerjs/esrgan-slim@1.0.0 --silent >/dev/null 2>&1 \
                && mkdir -p esrgan-slim && tar xzf upscalerjs-esrgan-slim-1.0.0.tgz -C esrgan-slim) \
                || echo "    (npm pack failed; tests/test_tfjs.py will try again and say why)"
        fi
        if [ ! -f .cache/esrgan-slim-1.0.0-beta.6/package/models/model.json ]; then
            echo "==> fetching @upscalerjs/esrgan-slim 1.0.0-beta.6 (its ESRGAN generator; TF.js import tests)"
            (cd .cache && npm pack @upscalerjs/esrgan-slim@1.0.0-beta.6 --silent >/dev/null 2>&1 \
                && mkdir -p esrgan-slim-1.0.0-beta.6 && tar xzf upscalerjs-esrgan-slim-1.0.0-beta.6.tgz -C esrgan-slim-1.0.0-beta.6) \
                || echo "    (npm pack failed; tests/test_tfjs.py will try again and say why)"
        fi
        if [ ! -f .cache/tfjs/node_modules/@tensorflow/tfjs/package.json ]; then
            echo "==> installing @tensorflow/tfjs 4.22.0 into .cache/tfjs (TF.js equality test)"
            npm install --prefix .cache/tfjs --no-save --no-audit --no-fund --ignore-scripts --silent \
                @tensorflow/tfjs@4.22.0 >/dev/null 2>&1 || echo "    (npm install failed; tests/test_tfjs.py will try again and say why)"
        fi
    fi
    return 0
}

run_tests() {
    local rc=0
    "$PY" -m pytest "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then
        echo "error: pytest collected no tests; that counts as a failure" >&2
        return 1
    fi
    return "$rc"
}

cmd=${1:-app}
[ $# -gt 0 ] && shift
case "$cmd" in
    app)
        setup_python
        exec "$VENV/bin/gan-explorer" serve "$@"
        ;;
    test)
        setup_python
        setup_browser
        setup_test_data
        run_tests -m "not slow" "$@"
        ;;
    test-all)
        setup_python
        setup_browser
        setup_test_data
        run_tests "$@"
        ;;
    bench)
        setup_python
        setup_test_data   # bench_superres compares with the TF.js models fetched into .cache/
        # bench_train runs pytorch/examples' dcgan/main.py side by side: point PYTORCH_EXAMPLES at a
        # checkout of github.com/pytorch/examples (it is not on a package registry, so not fetched here).
        for b in bench/bench_*.py; do
            echo "==> $b"
            if [ "$b" = bench/bench_train.py ]; then
                if [ -z "${PYTORCH_EXAMPLES:-}" ]; then
                    echo "    skipped: set PYTORCH_EXAMPLES=/path/to/pytorch-examples to compare with dcgan/main.py"
                    continue
                fi
                "$PY" "$b" --examples "$PYTORCH_EXAMPLES"
            else
                "$PY" "$b"
            fi
        done
        ;;
    *)
        echo "usage: ./run.sh app|test|test-all|bench [args...]" >&2
        exit 2
        ;;
esac
