"""CUDA C for the commonest types without an importance matrix (Q8_0, Q4_K, Q5_K, Q6_K), and for widening.

The whole-array kernels are exact on CuPy but launch hundreds of small operations per batch for the
K-quants; these kernels give each thread one block and run quant-spec 3.1 and 3.9-3.11 as written:
binary32 operations in source order, sums from +0.0 upward, ggml's rounding trick. ``cuda_kernels``
compiles them with fused multiply-add, flush-to-zero and approximate division turned off, which is
what makes them bit-identical to the C reference. The same text compiles as C (the macros below),
so the tests check it against the numpy kernels on a machine without a GPU.

The widening kernels turn a batch of stored BF16/F16 rows into binary32 exactly (F32 rows are only
scanned) and fold the batch's largest magnitude, as float bits, into one word: at or above the bits of
infinity the batch holds NaN or infinity; above 65504 a block scale may overflow binary16. So a batch
costs no CuPy array operation at all, and one synchronisation.
"""

SOURCE = r"""
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define QP_DEV __device__ static inline
#define QP_KERNEL extern "C" __global__ void
/* one thread per block b */
#define QP_FOR_EACH_BLOCK(n) long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x; if (b < (n))
#define QP_FOLD_MAX(p, v) atomicMax((p), (v))
#else
#include <math.h>
#define QP_DEV static inline
#define QP_KERNEL void
#define QP_FOR_EACH_BLOCK(n) for (long long b = 0; b < (n); ++b)
#define QP_FOLD_MAX(p, v) do { if (*(p) < (v)) *(p) = (v); } while (0)
#endif

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

QP_DEV u32 bits_of(float f) { union { float f; u32 u; } v; v.f = f; return v.u; }
QP_DEV float float_of(u32 u) { union { float f; u32 u; } v; v.u = u; return v.f; }

/* ggml's nearest_int: add 1.5 * 2^23 and read the low mantissa bits (round half to even). */
QP_DEV int rne(float v) { return (int)(bits_of(v + 12582912.0f) & 0x007FFFFF) - 0x00400000; }
QP_DEV int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* binary32 -> binary16, round to nearest even, subnormals kept, NaN as sign | 0x7E00. */
QP_DEV u16 half_bits(float f) {
    u32 x = bits_of(f), sign = (x >> 16) & 0x8000, ax = x & 0x7FFFFFFF;
    if (ax > 0x7F800000) return (u16)(sign | 0x7E00);
    if (ax >= 0x477FF000) return (u16)(sign | 0x7C00);           /* 65520 and up round to infinity */
    if (ax >= 0x38800000) {                                         /* normal binary16 */
        u32 m = ax + 0x00000FFF + ((ax >> 13) & 1);
        return (u16)(sign | ((m - 0x38000000) >> 13));
    }
    u32 e = ax >> 23;
    if (e < 102) return (u16)sign;                                  /* below 2^-25: zero */
    u32 mant = (ax & 0x007FFFFF) | 0x00800000, shift = 126 - e;
    u32 q = mant >> shift, rest = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (q & 1))) q += 1;
    return (u16)(sign | q);
}

QP_DEV float unhalf(u16 h) {
    u32 sign = (u32)(h & 0x8000) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
    if (e == 0) { float v = (float)m * 5.9604644775390625e-8f; return sign ? -v : v; }
    if (e == 31) return float_of(sign | 0x7F800000 | (m << 13));
    return float_of(sign | ((e + 112) << 23) | (m << 13));
}

QP_DEV void put_half(u8 *p, float v) { u16 h = half_bits(v); p[0] = (u8)(h & 0xFF); p[1] = (u8)(h >> 8); }
QP_DEV float get_half(const u8 *p) { return unhalf((u16)(p[0] | (p[1] << 8))); }

/* Widen n stored values to binary32 and fold their largest magnitude into *maxbits. Thread b takes
   values b, b + groups, b + 2 * groups, ... (neighbouring threads read neighbouring values), at most
   QP_SCAN_GROUP of them, and folds once. Bits are moved, never computed on, so NaN payloads survive. */
#define QP_SCAN_GROUP 256
#define QP_WIDEN(kernel, type, widen)                                                              \
QP_KERNEL kernel(const type *in, float *out, long long n, u32 *maxbits) {                          \
    long long groups = (n + QP_SCAN_GROUP - 1) / QP_SCAN_GROUP;                                    \
    QP_FOR_EACH_BLOCK(groups) {                                                                    \
        u32 m = 0;                                                                                 \
        for (long long i = b; i < n; i += groups) {                                                \
            float v = widen(in[i]);                                                                \
            u32 a = bits_of(v) & 0x7FFFFFFF;                                                       \
            m = m > a ? m : a;                                                                     \
            if (out) out[i] = v;                                                                   \
        }                                                                                          \
        QP_FOLD_MAX(maxbits, m);                                                                   \
    }                                                                                              \
}
QP_DEV float from_bf16(u16 h) { return float_of((u32)h << 16); }
QP_DEV float from_f32(float f) { return f; }
QP_WIDEN(qp_widen_bf16, u16, from_bf16)
QP_WIDEN(qp_widen_f16, u16, unhalf)
QP_WIDEN(qp_scan_f32, float, from_f32)   /* called with out = 0: float32 rows are only scanned */

/* Q8_0: 32 values -> half d + 32 int8. An infinite 1/d (subnormal d) gives code 0, as x86 does. */
QP_KERNEL qp_q8_0(const float *x, u8 *out, long long n_blocks) {
    QP_FOR_EACH_BLOCK(n_blocks) {
        const float *v = x + 32 * b;
        u8 *o = out + 34 * b;
        float amax = 0.0f;
        for (int i = 0; i < 32; ++i) { float a = fabsf(v[i]); amax = amax > a ? amax : a; }
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_half(o, d);
        int overflow = isinf(id);
        for (int i = 0; i < 32; ++i) {
            float q = roundf(v[i] * id);
            o[2 + i] = overflow ? 0 : (u8)(signed char)(int)q;
        }
    }
}

/* quant-spec H-A (make_qkx2_quants) with squared errors: x ~ scale * L - negmin. */
QP_DEV void fit_affine(const float *x, const float *w, int nmax, float rmin, float rdelta, int nstep,
                       u8 *L, float *scale_out, float *negmin_out) {
    float mn = x[0], mx = x[0], sum_w = 0.0f, sum_x = 0.0f;
    for (int i = 0; i < 32; ++i) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (mn > 0.0f) mn = 0.0f;
    if (mx == mn) {
        for (int i = 0; i < 32; ++i) L[i] = 0;
        *scale_out = 0.0f; *negmin_out = -mn;
        return;
    }
    float iscale = (float)nmax / (mx - mn);
    float scale = 1.0f / iscale;
    float best = 0.0f;
    for (int i = 0; i < 32; ++i) {
        int l = clampi(rne(iscale * (x[i] - mn)), 0, nmax);
        L[i] = (u8)l;
        float diff = scale * (float)l + mn - x[i];
        best += w[i] * (diff * diff);
    }
    u8 cand[32];
    for (int s = 0; s <= nstep; ++s) {
        float isc = (rmin + rdelta * (float)s + (float)nmax) / (mx - mn);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < 32; ++i) {
            int l = clampi(rne(isc * (x[i] - mn)), 0, nmax);
            cand[i] = (u8)l;
            float wl = w[i] * (float)l;
            sum_l += wl;
            sum_l2 += wl * (float)l;
            sum_xl += wl * x[i];
        }
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det > 0.0f) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if (this_min > 0.0f) { this_min = 0.0f; this_scale = sum_xl / sum_l2; }
            float err = 0.0f;
            for (int i = 0; i < 32; ++i) {
                float diff = this_scale * (float)cand[i] + this_min - x[i];
                err += w[i] * (diff * diff);
            }
            if (err < best) {
                for (int i = 0; i < 32; ++i) L[i] = cand[i];
                best = err; scale = this_scale; mn = this_min;
            }
        }
    }
    *scale_out = scale; *negmin_out = -mn;
}

/* Q4_K and Q5_K share everything but the code range, the candidate grid and the packing. */
QP_DEV void scale_min_k(const float *v, u8 *o, int nmax, float rmin, int nstep, u8 *L) {
    float scales[8], mins[8], w[32], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; ++j) {
        const float *xs = v + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        float av = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; ++l) w[l] = av + fabsf(xs[l]);
        fit_affine(xs, w, nmax, rmin, 0.1f, nstep, L + 32 * j, &scales[j], &mins[j]);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    u8 a[8], m[8];
    for (int j = 0; j < 8; ++j) {
        u8 ls = (u8)rne(inv_scale * scales[j]), lm = (u8)rne(inv_min * mins[j]);
        a[j] = ls < 63 ? ls : 63;
        m[j] = lm < 63 ? lm : 63;
    }
    put_half(o, max_scale / 63.0f);
    put_half(o + 2, max_min / 63.0f);
    for (int j = 0; j < 4; ++j) {
        o[4 + j] = (u8)(a[j] | ((a[j + 4] >> 4) << 6));
        o[8 + j] = (u8)(m[j] | ((m[j + 4] >> 4) << 6));
        o[12 + j] = (u8)((a[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
    float d = get_half(o), dmin = get_half(o + 2);
    for (int j = 0; j < 8; ++j) {
        float dq = d * (float)a[j];
        if (dq == 0.0f) continue;
        float dm = dmin * (float)m[j];
        for (int l = 0; l < 32; ++l) L[32 * j + l] = (u8)clampi(rne((v[32 * j + l] + dm) / dq), 0, nmax);
    }
}

QP_KERNEL qp_q4_k(const float *x, u8 *out, long long n_blocks) {
    QP_FOR_EACH_BLOCK(n_blocks) {
        u8 L[256];
        u8 *o = out + 144 * b;
        scale_min_k(x + 256 * b, o, 15, -1.0f, 20, L);
        for (int g = 0; g < 4; ++g)
            for (int l = 0; l < 32; ++l) o[16 + 32 * g + l] = (u8)(L[64 * g + l] | (L[64 * g + 32 + l] << 4));
    }
}

QP_KERNEL qp_q5_k(const float *x, u8 *out, long long n_blocks) {
    QP_FOR_EACH_BLOCK(n_blocks) {
        u8 L[256];
        u8 *o = out + 176 * b;
        scale_min_k(x + 256 * b, o, 31, -0.5f, 15, L);
        for (int l = 0; l < 32; ++l) o[16 + l] = 0;
        for (int g = 0; g < 4; ++g)
            for (int l = 0; l < 32; ++l) {
                u8 lo = L[64 * g + l], hi = L[64 * g + 32 + l];
                o[48 + 32 * g + l] = (u8)((lo & 15) | ((hi & 15) << 4));
                o[16 + l] |= (u8)(((lo >> 4) << (2 * g)) | ((hi >> 4) << (2 * g + 1)));
            }
    }
}

/* quant-spec H-B (make_qx_quants, rmse_type 1, weights x*x): codes 0..2nmax-1, returns the scale. */
QP_DEV float fit_sym16(const float *x, int nmax, u8 *L) {
    float amax = 0.0f, max = 0.0f, w[16];
    for (int i = 0; i < 16; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
        w[i] = x[i] * x[i];
    }
    if (amax < 1e-15f) { for (int i = 0; i < 16; ++i) L[i] = 0; return 0.0f; }
    float iscale = -(float)nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < 16; ++i) {
        int l = clampi(rne(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (u8)(l + nmax);
        sumlx += w[i] * x[i] * (float)l;
        suml2 += w[i] * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int k = -9; k <= 9; ++k) {
        if (k == 0) continue;
        float isc = -((float)nmax + 0.1f * (float)k) / max;
        sumlx = 0.0f; suml2 = 0.0f;
        for (int i = 0; i < 16; ++i) {
            int l = clampi(rne(isc * x[i]), -nmax, nmax - 1);
            sumlx += w[i] * x[i] * (float)l;
            suml2 += w[i] * (float)l * (float)l;
        }
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < 16; ++i) L[i] = (u8)(clampi(rne(isc * x[i]), -nmax, nmax - 1) + nmax);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

QP_KERNEL qp_q6_k(const float *x, u8 *out, long long n_blocks) {
    QP_FOR_EACH_BLOCK(n_blocks) {
        const float *v = x + 256 * b;
        u8 *o = out + 210 * b, L[256];
        float scales[16], max_scale = 0.0f, max_abs = 0.0f;
        for (int j = 0; j < 16; ++j) {
            scales[j] = fit_sym16(v + 16 * j, 32, L + 16 * j);
            float a = fabsf(scales[j]);
            if (a > max_abs) { max_abs = a; max_scale = scales[j]; }
        }
        if (max_abs < 1e-15f) {
            for (int i = 0; i < 210; ++i) o[i] = 0;
        } else {
            float iscale = -128.0f / max_scale;
            put_half(o + 208, 1.0f / iscale);
            float d = get_half(o + 208);
            for (int j = 0; j < 16; ++j) {
                int q = rne(iscale * scales[j]);
                signed char sc = (signed char)(q < 127 ? q : 127);
                o[192 + j] = (u8)sc;
                float dq = d * (float)sc;
                if (dq == 0.0f) continue;
                for (int i = 0; i < 16; ++i)
                    L[16 * j + i] = (u8)(clampi(rne(v[16 * j + i] / dq), -32, 31) + 32);
            }
            for (int h = 0; h < 2; ++h)
                for (int l = 0; l < 32; ++l) {
                    const u8 *p = L + 128 * h + l;
                    o[64 * h + l] = (u8)((p[0] & 15) | ((p[64] & 15) << 4));
                    o[64 * h + 32 + l] = (u8)((p[32] & 15) | ((p[96] & 15) << 4));
                    o[128 + 32 * h + l] = (u8)((p[0] >> 4) | ((p[32] >> 4) << 2) | ((p[64] >> 4) << 4) | ((p[96] >> 4) << 6));
                }
        }
    }
}
"""

# Values one thread of a widening kernel takes (QP_SCAN_GROUP in the source).
SCAN_GROUP = 256
# Widening (or, for F32, scanning) kernel by stored type name; arguments (in, out, n, maxbits).
WIDEN_KERNELS: dict[str, str] = {"BF16": "qp_widen_bf16", "F16": "qp_widen_f16", "F32": "qp_scan_f32"}

# Kernel name, values per block and bytes per block, by GGML type name.
KERNELS: dict[str, tuple[str, int, int]] = {
    "Q8_0": ("qp_q8_0", 32, 34),
    "Q4_K": ("qp_q4_k", 256, 144),
    "Q5_K": ("qp_q5_k", 256, 176),
    "Q6_K": ("qp_q6_k", 256, 210),
}
