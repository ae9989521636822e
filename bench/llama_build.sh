#!/usr/bin/env bash
# Build llama.cpp tools from a carried source tarball, on the device machine, for comparisons only.
#
#   bash bench/llama_build.sh cpu  llama-quantize
#   bash bench/llama_build.sh cuda llama-fit-params llama-bench fitbytes
#
# The source is llama.cpp from the llama-cpp-python 0.3.36 sdist without models/, docs/, examples/, media/
# and tools/ui (bench/GPU.md says how to make vendor/llama-src.tar.gz). Builds land in $QP_LLAMA/<flavour>
# (default /tmp/qp-llama), are reused by later calls on the same machine, and are serialised by a lock, so a
# build started in the background by one call is waited for, not repeated, by the next. The target
# `fitbytes` is tests/unit/engine/recommend/data/fitbytes.cpp, linked like llama-fit-params; it is added to the
# unpacked copy's CMake files here (the copy is scratch; nothing of llama.cpp is kept in the repository).
# Prints the bin folder on its last line.
set -euo pipefail
flavour=${1:?usage: $0 cpu|cuda TARGET...}
shift
root=${QP_LLAMA:-/tmp/qp-llama}
tarball=${LLAMA_TARBALL:-vendor/llama-src.tar.gz}
fitbytes_src=$(realpath tests/unit/engine/recommend/data/fitbytes.cpp)
mkdir -p "$root"
exec 9>"$root/.lock"
flock 9

if [[ ! -f $root/src/CMakeLists.txt ]]; then
    [[ -f $tarball ]] || { echo "no $tarball: nothing to build llama.cpp from" >&2; exit 3; }
    rm -rf "$root/unpack" "$root/src" && mkdir -p "$root/unpack"
    tar xzf "$tarball" -C "$root/unpack"
    mv "$(dirname "$(find "$root/unpack" -maxdepth 2 -name CMakeLists.txt | head -1)")" "$root/src"
    cat >>"$root/src/tools/fit-params/CMakeLists.txt" <<'EOF'

if(QP_FITBYTES)
    add_executable(fitbytes ${QP_FITBYTES})
    target_link_libraries(fitbytes PRIVATE llama-fit-params-impl)
    target_compile_features(fitbytes PRIVATE cxx_std_17)
endif()
EOF
fi

build=$root/$flavour
case $flavour in
    cpu) backend=(-DGGML_CUDA=OFF) ;;
    cuda) backend=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=${QP_CUDA_ARCH:-90-real}") ;;
    *) echo "flavour must be cpu or cuda" >&2; exit 2 ;;
esac
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S "$root/src" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF \
        -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON "-DQP_FITBYTES=$fitbytes_src" "${backend[@]}" >"$build.configure.log" 2>&1 \
        || { tail -30 "$build.configure.log" >&2; exit 1; }
fi
start=$(date +%s)
cmake --build "$build" --target "$@" -j "$(nproc)" >"$build.build.log" 2>&1 || { tail -40 "$build.build.log" >&2; exit 1; }
echo "built $* ($flavour) in $(( $(date +%s) - start )) s" >&2
echo "$build/bin"
