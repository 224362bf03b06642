// determinism (CPU): OpenMP threads split the reduced dimension and all add into the same
// output elements with a plain, non-atomic +=. Lost updates make the result change from run
// to run. Needs the CPU build to enable OpenMP (-fopenmp), as the known-good kernels do. The window
// between read and write is wide and yields the core, so the race shows whether threads overlap or are
// time-sliced onto one busy core.
#include <torch/extension.h>
#include <sched.h>

torch::Tensor forward(torch::Tensor x, int64_t dim) {
  TORCH_CHECK(x.dim() == 3 && dim == 1, "expects (B, R, C) reduced over dim 1");
  auto xc = x.contiguous();
  const int64_t B = xc.size(0), R = xc.size(1), C = xc.size(2);
  auto y = torch::zeros({B, C}, xc.options());
  const float* in = xc.data_ptr<float>();
  volatile float* out = y.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b) {
#pragma omp parallel for num_threads(8) schedule(static, 1)
    for (int64_t r = 0; r < R; ++r) {
      for (int64_t c = 0; c < C; ++c) {
        float cur = out[b * C + c];
        for (volatile int spin = 0; spin < 4096; ++spin) {}  // a wide read-modify-write window
        sched_yield();  // ... that lets the other threads in even where they share one busy core
        out[b * C + c] = cur + in[(b * R + r) * C + c];
      }
    }
  }
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "sum over dim 1 (racy)"); }
