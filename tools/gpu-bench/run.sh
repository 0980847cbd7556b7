#!/usr/bin/env bash
# Run the bundle that prepare.sh made, on a machine with no Node and no network (a lent GPU machine):
#   bash tools/gpu-bench/run.sh [pnpm bench options, e.g. --json $OUT/bench.json --breakdown]
# Unpacks Node and dawn.node into $G3N_BENCH_TMP (default /tmp/g3n-bench), with xz or, where xz is
# missing, Python's lzma. Uses the system's Vulkan loader when the linker cache has one, else the
# bundled one (G3N_BUNDLED_VULKAN=1 forces it), points the loader at the NVIDIA driver's ICD when
# it finds one (unless VK_DRIVER_FILES / VK_ICD_FILENAMES are set), and runs the benchmark. On a
# machine without NVIDIA's ICD, Dawn takes what the loader offers (SwiftShader here). onnxruntime-web's
# wasm is unpacked too and named by G3N_ORT_WASM, so the side-by-side rows run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUNDLE=${G3N_BUNDLE:-$HERE/out}
WORK=${G3N_BENCH_TMP:-/tmp/g3n-bench}
if [ ! -f "$BUNDLE/bench.mjs" ]; then
  echo "no bundle in $BUNDLE: run tools/gpu-bench/prepare.sh first" >&2
  exit 2
fi

unpack() {
  if command -v xz > /dev/null; then
    xz -dc "$1" > "$2"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  fi
}
mkdir -p "$WORK/dist/linux-x64"
unpack "$BUNDLE/node.xz" "$WORK/node"
chmod +x "$WORK/node"
unpack "$BUNDLE/dist/linux-x64/dawn.node.xz" "$WORK/dist/linux-x64/dawn.node"
cp "$BUNDLE/bench.mjs" "$WORK/bench.mjs"
if [ -f "$BUNDLE/ort.wasm.xz" ] && [ -z "${G3N_ORT_WASM:-}" ]; then
  unpack "$BUNDLE/ort.wasm.xz" "$WORK/ort.wasm"
  export G3N_ORT_WASM="$WORK/ort.wasm"
fi

if [ -n "${G3N_BUNDLED_VULKAN:-}" ] || ! ldconfig -p 2> /dev/null | grep -q 'libvulkan\.so\.1 '; then
  export LD_LIBRARY_PATH="$BUNDLE/vulkan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "run.sh: using the bundled Vulkan loader" >&2
fi
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then
      export VK_DRIVER_FILES="$icd"
      break
    fi
  done
fi
EGL_VENDOR=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -f "$EGL_VENDOR" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES="$EGL_VENDOR"; fi
echo "run.sh: node $("$WORK/node" --version), VK_DRIVER_FILES=${VK_DRIVER_FILES:-} VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-}" >&2
if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true; fi
exec "$WORK/node" "$WORK/bench.mjs" "$@"
