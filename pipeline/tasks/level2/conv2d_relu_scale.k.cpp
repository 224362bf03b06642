// Format K, CPU seed: relu(conv2d(x, weight, bias, stride=1, padding=KW // 2)) * scale, NCHW.
// in = [x (N, C, H, W), weight (O, C, KH, KW), bias (O)], attrs = [scale].
// Direct convolution with register blocking: the input is first copied into a zero-padded workspace (so no tap
// needs a bounds check, with OWV floats of slack per row so a full-width strip never reads past it); then every
// output strip of OWV columns x CO_BLOCK output channels keeps its accumulators in vector registers (GCC vector
// types) while the loop walks input channels and taps: one contiguous input vector per tap is reused by CO_BLOCK
// broadcast weights. Fused epilogue: bias, ReLU and the scale are applied at the store, in eager's order
// (relu(acc + b) * scale), so the convolution output is written once (eager: three passes and two temporaries).
// OpenMP tasks are (image, channel block, output row); the team starts only for convolutions of PAR_MIN_FLOPS or
// more. The strip kernel is cloned for AVX2+FMA (x86-64-v3) and the baseline, picked at load time.
#include "ke_abi.h"

#define CO_BLOCK 4               // tunable: 1 2 4 8
#define OWV 16                   // tunable: 8 16 32
#define PAR_MIN_FLOPS 2000000    // tunable: 250000 2000000 16000000

#define NV (OWV / 8)
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));

struct conv_geom {
  int64_t n, c, h, w, o, kh, kw, stride, pad, ho, wo, hp, wpa;
};

static int geometry(const ke_tensor* in, int64_t stride, int64_t pad, conv_geom* g) {
  if (in[0].ndim != 4 || in[1].ndim != 4 || in[1].shape[1] != in[0].shape[1] || stride < 1 || pad < 0) return 1;
  g->n = in[0].shape[0]; g->c = in[0].shape[1]; g->h = in[0].shape[2]; g->w = in[0].shape[3];
  g->o = in[1].shape[0]; g->kh = in[1].shape[2]; g->kw = in[1].shape[3];
  g->stride = stride; g->pad = pad;
  g->hp = g->h + 2 * pad;
  g->wpa = g->w + 2 * pad + OWV * stride;
  if (g->hp < g->kh || g->w + 2 * pad < g->kw) return 1;
  g->ho = (g->hp - g->kh) / stride + 1;
  g->wo = (g->w + 2 * pad - g->kw) / stride + 1;
  return 0;
}

static int64_t padded_floats(const conv_geom& g) { return g.n * g.c * g.hp * g.wpa; }

// CO_BLOCK channels (co0.., clamped to the last one) x OWV output columns from ow0 of output row oh, no bias.
__attribute__((target_clones("arch=x86-64-v3", "default")))
void conv_strip(const float* __restrict xp, const float* __restrict wt, const conv_geom* gp, int64_t co0, int64_t oh,
                int64_t ow0, float* __restrict res) {
  const conv_geom g = *gp;
  const float* wrow[CO_BLOCK];
  for (int b = 0; b < CO_BLOCK; ++b) wrow[b] = wt + (co0 + b < g.o ? co0 + b : g.o - 1) * g.c * g.kh * g.kw;
  v8 acc[CO_BLOCK][NV];
  for (int b = 0; b < CO_BLOCK; ++b)
    for (int v = 0; v < NV; ++v) acc[b][v] = (v8){0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t ci = 0; ci < g.c; ++ci)
    for (int64_t i = 0; i < g.kh; ++i) {
      const float* xr = xp + (ci * g.hp + oh * g.stride + i) * g.wpa + ow0 * g.stride;
      const int64_t woff = (ci * g.kh + i) * g.kw;
      for (int64_t j = 0; j < g.kw; ++j) {
        v8 xv[NV];
        if (g.stride == 1) {
          for (int v = 0; v < NV; ++v) xv[v] = *(const v8u*)(xr + j + 8 * v);
        } else {
          for (int v = 0; v < NV; ++v) {
            float t[8];
            for (int e = 0; e < 8; ++e) t[e] = xr[j + (8 * v + e) * g.stride];
            xv[v] = *(const v8u*)t;
          }
        }
        for (int b = 0; b < CO_BLOCK; ++b) {
          const v8 wv = (v8){0, 0, 0, 0, 0, 0, 0, 0} + wrow[b][woff + j];
          for (int v = 0; v < NV; ++v) acc[b][v] += wv * xv[v];
        }
      }
    }
  for (int b = 0; b < CO_BLOCK; ++b)
    for (int v = 0; v < NV; ++v) *(v8u*)(res + b * OWV + 8 * v) = acc[b][v];
}

static void conv_relu_scale(const float* x, const float* wt, const float* bias, float scale, float* y, float* xp,
                            const conv_geom& g, int par) {
#pragma omp parallel for collapse(2) schedule(static) if (par)
  for (int64_t p = 0; p < g.n * g.c; ++p)
    for (int64_t r = 0; r < g.hp; ++r) {
      float* dst = xp + (p * g.hp + r) * g.wpa;
      const int64_t ih = r - g.pad;
      for (int64_t q = 0; q < g.wpa; ++q) {
        const int64_t iw = q - g.pad;
        dst[q] = (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) ? x[(p * g.h + ih) * g.w + iw] : 0.0f;
      }
    }
  const int64_t cob = (g.o + CO_BLOCK - 1) / CO_BLOCK;
#pragma omp parallel for collapse(3) schedule(static) if (par)
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t cb = 0; cb < cob; ++cb)
      for (int64_t oh = 0; oh < g.ho; ++oh) {
        float res[CO_BLOCK * OWV];
        const int64_t co0 = cb * CO_BLOCK, nco = g.o - co0 < CO_BLOCK ? g.o - co0 : CO_BLOCK;
        for (int64_t ow0 = 0; ow0 < g.wo; ow0 += OWV) {
          conv_strip(xp + n * g.c * g.hp * g.wpa, wt, &g, co0, oh, ow0, res);
          const int64_t nw = g.wo - ow0 < OWV ? g.wo - ow0 : OWV;
          for (int64_t b = 0; b < nco; ++b) {
            float* yr = y + ((n * g.o + co0 + b) * g.ho + oh) * g.wo + ow0;
            const float bv = bias[co0 + b];
            for (int64_t j = 0; j < nw; ++j) {
              const float v = res[b * OWV + j] + bv;
              yr[j] = (v < 0.0f ? 0.0f : v) * scale;
            }
          }
        }
      }
}

extern "C" int64_t ke_workspace_bytes(const ke_tensor* in, int n_in, const double* attrs, int n_attrs) {
  conv_geom g;
  if (n_in != 3 || in[1].ndim != 4 || geometry(in, 1, in[1].shape[3] / 2, &g)) return 0;
  return padded_floats(g) * (int64_t)sizeof(float);
}

extern "C" int ke_launch(const ke_tensor* in, int n_in, ke_tensor* out, int n_out, const double* attrs,
                         int n_attrs, void* workspace, int64_t workspace_bytes, void* stream) {
  if (n_in != 3 || n_out != 1 || n_attrs != 1) return 1;
  for (int i = 0; i < 3; ++i)
    if (in[i].dtype != KE_F32) return 1;
  if (out[0].dtype != KE_F32 || in[1].ndim != 4 || attrs[0] != attrs[0]) return 2;
  conv_geom g;
  if (geometry(in, 1, in[1].shape[3] / 2, &g)) return 2;
  if (in[2].ndim != 1 || in[2].shape[0] != g.o) return 2;
  if (out[0].ndim != 4 || out[0].shape[0] != g.n || out[0].shape[1] != g.o || out[0].shape[2] != g.ho ||
      out[0].shape[3] != g.wo)
    return 2;
  if (workspace_bytes < padded_floats(g) * (int64_t)sizeof(float) || (padded_floats(g) > 0 && workspace == 0))
    return 3;
  if (ke_numel(&out[0]) == 0) return 0;
  const double flops = 2.0 * g.n * g.o * g.ho * g.wo * g.c * g.kh * g.kw;
  conv_relu_scale((const float*)in[0].data, (const float*)in[1].data, (const float*)in[2].data, (float)attrs[0],
                  (float*)out[0].data, (float*)workspace, g, flops >= PAR_MIN_FLOPS);
  return 0;
}
