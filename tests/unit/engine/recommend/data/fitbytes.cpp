// Prints llama.cpp's dry-run memory breakdown in bytes: "<device> model context compute" per line.
#include "llama.h"
#include "arg.h"
#include "common.h"
#include "fit.h"
#include "log.h"
#include <cstdio>
#include <cstdlib>
int main(int argc, char ** argv) {
    common_params params;
    common_init();
    if (!common_params_parse(argc, argv, params, LLAMA_EXAMPLE_FIT_PARAMS)) return 1;
    llama_backend_init();
    auto mparams = common_model_params_to_llama(params);
    auto cparams = common_context_params_to_llama(params);
    // llama-server reserves logits for n_parallel outputs only; QP_N_OUTPUTS_MAX reproduces that here
    if (getenv("QP_KV_UNIFIED")) cparams.kv_unified = true;  // llama-server's default with auto -np
    if (const char * n_out = getenv("QP_N_OUTPUTS_MAX")) cparams.n_outputs_max = (uint32_t) atoi(n_out);
    std::vector<ggml_backend_dev_t> devs;
    uint32_t a = 0, b = 0, c = 0;
    auto dmd = common_get_device_memory_data(params.model.path.c_str(), &mparams, &cparams, devs, a, b, c, GGML_LOG_LEVEL_ERROR);
    for (size_t i = 0; i < devs.size(); i++) printf("%s %zu %zu %zu\n", ggml_backend_dev_name(devs[i]), dmd[i].model, dmd[i].context, dmd[i].compute);
    printf("Host %zu %zu %zu\n", dmd.back().model, dmd.back().context, dmd.back().compute);
    return 0;
}
