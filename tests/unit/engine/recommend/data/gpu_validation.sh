#!/bin/bash
# GPU half of the validation (not run yet: see README.md). Unpack a minimal llama.cpp source next to
# this script as llama.cpp/, plus header-only GGUFs smol.gguf, l8b.gguf, moe.gguf (make_reference.py writes
# such headers), set OUT to a results folder, and run it on a CUDA machine.
cd "$(dirname "$0")"
Q=$PWD
exec > >(tee -a $OUT/log.txt) 2>&1
date; nvidia-smi --query-gpu=name,memory.total,memory.free,memory.used --format=csv; nproc
which nvcc cmake gcc g++ make ninja python3; nvcc --version | tail -2; cmake --version | head -1
if [ ! -x b/bin/llama-fit-params ] || [ ! -x b/bin/llama-bench ]; then
  [ -f b/CMakeCache.txt ] || cmake -S llama.cpp -B b -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF \
    -DCMAKE_BUILD_TYPE=Release -DLLAMA_OPENSSL=OFF > $OUT/cmake.txt 2>&1 || { tail -30 $OUT/cmake.txt; exit 1; }
  timeout ${BUILD_S:-500} cmake --build b --target llama-fit-params llama-bench -j16 > $OUT/build.txt 2>&1
  echo "build rc=$?"; tail -3 $OUT/build.txt
fi
[ -x b/bin/llama-bench ] || exit 3
echo BUILT

cd "$(dirname "$0")"
exec > >(tee -a $OUT/exp.txt) 2>&1
L=$PWD/llama.cpp
if [ ! -x b/bin/fitbytes ]; then
  g++ -O1 -std=c++17 -I$L/include -I$L/common -I$L/ggml/include -I$L/src -c fitbytes.cpp -o fitbytes.o
  (cd b/tools/fit-params && sed -e "s#CMakeFiles/llama-fit-params.dir/main.cpp.o#$PWD/../../../fitbytes.o#" \
     -e "s#-o ../../bin/llama-fit-params#-o ../../bin/fitbytes#" CMakeFiles/llama-fit-params.dir/link.txt > /tmp/link.sh && bash /tmp/link.sh)
fi
FB=b/bin/fitbytes
run() {  # name env args...
  local name=$1 env=$2; shift 2
  echo "RUN $name | $env | $* | $(env $env $FB "$@" 2>/dev/null | tr '\n' ';')"
}
S="QP_KV_UNIFIED=1 QP_N_OUTPUTS_MAX=4"
run smol X=1 -m smol.gguf -c 4096
run smol "$S" -m smol.gguf -c 4096 -np 4
run smol X=1 -m smol.gguf -c 4096 -ngl 10
run smol X=1 -m smol.gguf -c 4096 -ngl 0
run l8b X=1 -m l8b.gguf -c 8192
run l8b "$S" -m l8b.gguf -c 32768 -np 4
run l8b X=1 -m l8b.gguf -c 8192 -fa off
run l8b X=1 -m l8b.gguf -c 16384 -ctk q8_0 -ctv q8_0
run l8b X=1 -m l8b.gguf -c 8192 -ngl 20
run l8b X=1 -m l8b.gguf -c 8192 -ngl 32
run l8b X=1 -m l8b.gguf -c 8192 -ngl 0
run l8b "$S" -m l8b.gguf -c 8192 -ngl 20 -np 4
run moe X=1 -m moe.gguf -c 8192
run moe X=1 -m moe.gguf -c 8192 --n-cpu-moe 20
for t in 70000 76000; do
  echo "FIT l8b fitt=$t: $(b/bin/llama-fit-params -m l8b.gguf -fitt $t 2>$OUT/fit_$t.err | tail -1)"; grep -E "projected|free device|context size|layers" $OUT/fit_$t.err | head -8
  echo "FIT moe fitt=$t: $(b/bin/llama-fit-params -m moe.gguf -fitt $t 2>$OUT/fitm_$t.err | tail -1)"; grep -E "projected|free device|context size|layers" $OUT/fitm_$t.err | head -8
done
nvidia-smi --query-gpu=memory.total,memory.free,memory.used --format=csv
b/bin/llama-bench -m smol.gguf -m l8b.gguf -ngl 99 -fa 1 -p 512 -n 128 -r 2 -o md 2>/dev/null
b/bin/llama-bench -m l8b.gguf -ngl 16 -fa 1 -p 0 -n 64 -r 1 -o md 2>/dev/null
b/bin/llama-bench -m moe.gguf -ngl 99 -fa 1 -p 0 -n 128 -r 1 -o md 2>/dev/null
