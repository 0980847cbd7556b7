#!/usr/bin/env bash
# Prepare the GPU benchmark bundle in tools/gpu-bench/out (git-ignored; about 34 MiB, under the
# 64 MiB a device call may carry), for a machine with no network and no Node:
#   node.xz                      this machine's Node binary (process.execPath), xz -6
#   bench.mjs                    `pnpm bench` bundled into one ES module (WGSL inlined)
#   dist/linux-x64/dawn.node.xz  the `webgpu` package's Dawn build, xz -6
#   ort.wasm.xz                  onnxruntime-web's WebGPU wasm, xz -6 (its JavaScript is in bench.mjs)
#   vulkan/                      the Vulkan loader and GL dispatch libraries of the device notes
#                                (libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2, amd64)
#   MANIFEST.txt                 versions and sizes
# Then, on the GPU machine: bash tools/gpu-bench/run.sh --json $OUT/bench.json (carry tools/gpu-bench/out).
#   bash tools/gpu-bench/prepare.sh [out dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-tools/gpu-bench/out}
LIMIT=$((64 * 1024 * 1024))
rm -rf "$OUT"
mkdir -p "$OUT/dist/linux-x64" "$OUT/vulkan"

node tools/gpu-bench/build.mjs "$OUT"
NODE_BIN=$(node -p process.execPath)
xz -6 -T0 -c "$NODE_BIN" > "$OUT/node.xz"
xz -6 -T0 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$OUT/dist/linux-x64/dawn.node.xz"
ORT_WASM=$(cd packages/bench && node -p "require.resolve('onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm')")
xz -6 -T0 -c "$ORT_WASM" > "$OUT/ort.wasm.xz"

DEBS=$(mktemp -d)
trap 'rm -rf "$DEBS"' EXIT
APT=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oAPT::Sandbox::User=root "-oDir::State::Lists=$DEBS/lists")
mkdir -p "$DEBS/lists/partial" "$DEBS/root"
apt-get "${APT[@]}" update -qq
(cd "$DEBS" && apt-get "${APT[@]}" download -qq libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2)
for deb in "$DEBS"/*.deb; do dpkg-deb -x "$deb" "$DEBS/root"; done
# Only the SONAME files the dynamic loader asks for, links resolved (a device call carries links as links).
cp -L "$DEBS"/root/usr/lib/x86_64-linux-gnu/*.so.[0-9] "$OUT/vulkan/"

{
  echo "prepared $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m)"
  echo "node $("$NODE_BIN" --version) ($NODE_BIN)"
  echo "webgpu $(node -p "require('./node_modules/webgpu/package.json').version")"
  for deb in "$DEBS"/*.deb; do dpkg-deb -f "$deb" Package Version | paste -sd' '; done
  (cd "$OUT" && find . -type f ! -name MANIFEST.txt -printf '%s %p\n' | sort -k2)
} > "$OUT/MANIFEST.txt"

SIZE=$(du -sb "$OUT" | cut -f1)
echo "bundle: $OUT, $((SIZE / 1024 / 1024)) MiB"
if [ "$SIZE" -ge "$LIMIT" ]; then
  echo "the bundle exceeds 64 MiB" >&2
  exit 1
fi
