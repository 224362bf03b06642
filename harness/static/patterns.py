"""The static filter's tables: the names and source patterns its C++/CUDA rules look for.

`harness.static.cpp` owns the rules and the scan; this module owns only what they match against:
the torch calls a kernel may make, the compute methods and vendor libraries that count as
library calls, the process, file and network calls the sandbox forbids, and the regular
expressions that find kernels, launches, streams, threads, state and Python use in a
comment- and literal-blanked C++/CUDA text (`harness.static.cpp.strip_cpp`).
"""
from __future__ import annotations

import re

# torch/ATen calls that allocate, describe or schedule, never compute
ALLOWED_TORCH_FUNCS = frozenset("""
empty empty_like empty_strided zeros zeros_like ones ones_like full full_like from_blob tensor scalar_tensor
dtype device layout requires_grad memory_format device_of parallel_for get_num_threads get_thread_num
in_parallel_region irange ceil_div ATenCeilDiv getCurrentCUDAStream getDefaultCUDAStream getCurrentDeviceProperties
getDeviceProperties current_device device_count is_available synchronize elementSize toString
typeMetaToScalarType isFloatingType isComplexType isIntegralType globalContext numel getCurrentDevice
set_device toUnderlying toRealValueType
""".split())
LIBRARY_NAMESPACE_PARTS = frozenset({"nn", "native", "blas", "linalg", "fft", "special", "cpu", "compositeexplicitautograd"})
LIBRARY_CUDA_HANDLES = re.compile(r"getCurrentCUDA(Blas|BlasLt|Solver|Sparse)\w*Handle|cudnn|cublas", re.I)

# methods that are compute ops (`x.matmul(...)`, `t->sum()`): library calls
COMPUTE_METHODS = frozenset("""
abs acos add add_ addmm addmm_ addmv addcmul addcdiv amax amin argmax argmin asin atan baddbmm bmm clamp clamp_
clamp_max clamp_min clamp_min_ cos cosh cross cumprod cumsum div div_ dot einsum erf exp exp_ expm1 gelu
index_select gather scatter scatter_add kron layer_norm batch_norm group_norm linear log log1p log_softmax
logsumexp masked_fill matmul max maximum mean min minimum mm mul mul_ mv neg norm outer pow prod reciprocal relu
relu_ rsqrt sigmoid sigmoid_ silu sin sinh softmax softplus sort sqrt square std sub sub_ sum tanh tanh_ topk var
conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d convolution hardtanh leaky_relu elu selu
mish hardswish lerp tril triu
""".split())
THRUST_HELPERS = frozenset("""raw_pointer_cast device_pointer_cast make_tuple get make_pair make_zip_iterator
make_counting_iterator make_transform_iterator make_constant_iterator make_permutation_iterator""".split())

# free C calls the process_control and io_access rules reject
PROCESS_CALLS = frozenset("""
fork vfork system popen execl execle execlp execv execve execvp execvpe fexecve posix_spawn posix_spawnp exit _exit
_Exit abort quick_exit at_quick_exit atexit kill killpg raise setsid setpgid setpgrp daemon prctl ptrace dlopen dlsym
dlmopen dlvsym syscall clone clone3 unshare chroot setuid seteuid setgid setresuid signal sigaction alarm
pthread_kill tgkill
""".split())
IO_CALLS = frozenset("""
fopen fopen64 freopen open open64 openat creat opendir fdopendir readdir scandir readlink readlinkat realpath stat
lstat fstatat access faccessat unlink unlinkat remove rename renameat mkdir rmdir chdir getcwd socket socketpair
connect bind listen accept accept4 sendto recvfrom sendmsg recvmsg send recv getaddrinfo gethostbyname getenv
secure_getenv setenv putenv unsetenv clearenv write read pread pwrite writev readv dup dup2 dup3 mmap ioctl fcntl
pipe pipe2 sendfile truncate ftruncate symlink link chmod chown
""".split())
# C library names that count under std:: too (std::exit, std::getenv; not std::bind)
STD_LIBC = frozenset("""exit _Exit abort quick_exit at_quick_exit atexit system getenv remove rename signal raise
fopen freopen""".split())
# string literals that name a system path or a secret; inline assembly that makes a raw system call
SECRET_STRING = re.compile(r"/proc/|/sys/|/etc/|/root\b|/home/|\.ssh|\.netrc|huggingface|HF_TOKEN|_TOKEN\b|SECRET|"
                           r"API_KEY|AWS_|/dev/(?!null\b)")
ASM_ESCAPE = re.compile(r"\bsyscall\b|\bsysenter\b|\bint\s+\$?0x80\b")
# C++ keywords that look like a function definition's name to FUNC_DEF
KEYWORDS = frozenset("if for while switch return sizeof catch do else case decltype alignof static_assert".split())

# patterns over the blanked C++/CUDA text
QUALIFIED_CALL = re.compile(
    r"(?<![\w:])((?:at|torch)\s*::\s*(?:\w+\s*::\s*)*)(\w+)\s*(?:<[^;{}()]*?>)?\s*\(")
METHOD_CALL = re.compile(r"(?:\.|->)\s*(\w+)\s*(?:<[^;{}()]*?>)?\s*\(")
VENDOR_CALL = re.compile(r"\b(cublas\w*|cudnn\w*|cufft\w*|cusparse\w*|cusolver\w*|curandGenerate\w*|"
                         r"curandCreateGenerator\w*)\s*\(")
THRUST_CALL = re.compile(r"\bthrust\s*::\s*(?:\w+\s*::\s*)*(\w+)\s*(?:<[^;{}()]*?>)?\s*\(")
CUB_DEVICE = re.compile(r"\bcub\s*::\s*(Device\w+)\s*::\s*(\w+)\s*(?:<[^;{}()]*?>)?\s*\(")
FREE_CALL = re.compile(r"(?<![\w.>:])((?:std\s*)?::\s*)?\b(\w+)\s*\(")
FUNC_DEF = re.compile(r"\b(\w+)\s*\([^;{}]*\)\s*(?:const\s*)?(?:noexcept\s*)?(?:->\s*[\w:<>,\s*&]+)?\{")
LAMBDA_VAR = re.compile(r"\b(\w+)\s*=\s*\[[^\]]*\]\s*\(")
LAUNCH_BOUNDS = re.compile(r"__launch_bounds__\s*\((?:[^()]|\([^()]*\))*\)")
GLOBAL = re.compile(r"\b__global__\b")
LAUNCH = re.compile(r"<<<|\bcudaLaunch(?:Cooperative)?Kernel\w*\s*[(<]|\bcuLaunch(?:Cooperative)?Kernel\w*\s*\(")
STREAMS = re.compile(r"\b(cudaStreamCreate\w*|cuStreamCreate\w*|getStreamFromPool|getStreamFromExternal|"
                     r"cudaStreamPerThread)\b")
DEFERRED = re.compile(r"\b(cudaLaunchHostFunc|cuLaunchHostFunc|cudaStreamAddCallback|cudaGraphLaunch|cuGraphLaunch)\b")
THREADS = re.compile(r"\bstd\s*::\s*(?:thread\b(?!\s*::\s*hardware_concurrency)|jthread\b|async\b)|"
                     r"\bpthread_create\s*\(|\.\s*detach\s*\(\s*\)|\bat\s*::\s*launch\s*\(|\bboost\s*::\s*thread\b")
STATIC_VAR = re.compile(r"\b(static|thread_local)\b(?!\s+(?:const|constexpr|inline|__device__|__host__|__global__|"
                        r"__forceinline__|__inline__|void)\b)")
PY_IMPORT = re.compile(r"\b(?:py|pybind11)\s*::\s*(?:module_?\s*::\s*import|exec|eval|eval_file|globals|setattr|"
                       r"getattr|delattr)\b")
PY_CAPI = re.compile(r"\b_?Py[A-Za-z]*_\w+\s*\(")
PY_EMBED = re.compile(r"#\s*include\s*[<\"]pybind11/(?:embed|eval)\.h")
PYBIND_BLOCK = re.compile(r"\bPYBIND11_MODULE\s*\([^)]*\)\s*\{")
TORCH_INCLUDE = re.compile(r"#\s*include\s*[<\"](?:torch/|ATen/|c10/|pybind11/)")
IO_QUALIFIED = re.compile(r"\bstd\s*::\s*(ifstream|ofstream|fstream|filesystem)\b|"
                          r"\b(_?_?environ)\b")
# a namespace-scope statement that is not mutable state
NOT_STATE = re.compile(r"^\s*(?:using|typedef|template|extern|namespace|struct|class|enum|union|static|"
                       r"friend|return|public|private|protected)\b|\b(?:const|constexpr|__constant__|__shared__)\b")
