// nacos-run: load a NACOS artifact (model.so + manifest.json + input_K.npy / output_K.npy, written
// by `nacos export`), run it through the TVM runtime's Relax VM, compare the outputs with the
// reference outputs, time it and print one JSON object. No Python is needed.
//
// Exit status: 0 the outputs match, 1 they differ from the reference, 2 bad input or runtime error
// (one line "nacos-run: error: ..." on stderr).

#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>
#include <tvm/ffi/string.h>
#include <tvm/ffi/dtype.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "json.h"
#include "npy.h"
#include "sha256.h"

namespace {

using nacos::Json;
using nacos::NpyArray;

constexpr int kExitMismatch = 1;
constexpr int kExitError = 2;
constexpr int kPooledAllocator = 2;
#if defined(__x86_64__)
const char* kHostArch = "x86_64";  // as nacos.board.ARCHES names them
#elif defined(__aarch64__)
const char* kHostArch = "aarch64";
#elif defined(__arm__)
const char* kHostArch = "armv7";
#else
const char* kHostArch = "";
#endif  // tvm.runtime.vm.VirtualMachine.POOLED_ALLOCATOR

const char* kUsage =
    "usage: nacos-run ARTIFACT_DIR [--repeat N] [--warmup N] [--tolerance REL] [--threads N]\n"
    "                 [--no-sha256] [--save-outputs DIR]\n"
    "\n"
    "Loads ARTIFACT_DIR (written by `nacos export`), runs its entry function on the reference\n"
    "inputs with the TVM Relax VM, compares with the reference outputs and prints one JSON object.\n"
    "  --repeat N        timed runs (default 50); median/min/max are reported in ms\n"
    "  --warmup N        untimed runs first (default 5)\n"
    "  --tolerance REL   max abs error / max |reference| allowed (default: the manifest's, else 1e-4)\n"
    "  --threads N       TVM_NUM_THREADS (default: the environment's, else the board's thread count)\n"
    "  --no-sha256       do not check model.so against the sha256 in the manifest\n"
    "  --save-outputs D  write the outputs as D/output_K.npy\n"
    "Exit status: 0 match, 1 output differs from the reference, 2 bad input or runtime error.\n";

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string artifact;
  int repeat = 50;
  int warmup = 5;
  double tolerance = -1;  // < 0: from the manifest
  int threads = 0;        // 0: environment / manifest
  bool check_sha = true;
  std::string save_outputs;
};

int ParseInt(const std::string& flag, const char* text, int min) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < min || v > 1000000)
    throw Error(flag + " needs an integer >= " + std::to_string(min) + ", got '" + text + "'");
  return static_cast<int>(v);
}

Options ParseArgs(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) throw Error(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--repeat") {
      opt.repeat = ParseInt(a, value(), 1);
    } else if (a == "--warmup") {
      opt.warmup = ParseInt(a, value(), 0);
    } else if (a == "--threads") {
      opt.threads = ParseInt(a, value(), 1);
    } else if (a == "--tolerance") {
      const char* t = value();
      char* end = nullptr;
      opt.tolerance = std::strtod(t, &end);
      if (end == t || *end != '\0' || !(opt.tolerance >= 0)) throw Error("--tolerance needs a number >= 0");
    } else if (a == "--no-sha256") {
      opt.check_sha = false;
    } else if (a == "--save-outputs") {
      opt.save_outputs = value();
    } else if (!a.empty() && a[0] == '-') {
      throw Error("unknown option '" + a + "' (see --help)");
    } else if (opt.artifact.empty()) {
      opt.artifact = a;
    } else {
      throw Error("only one artifact folder is expected, got '" + opt.artifact + "' and '" + a + "'");
    }
  }
  if (opt.artifact.empty()) throw Error("no artifact folder given (see --help)");
  return opt;
}

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<int64_t> ShapeOf(const Json& spec, const std::string& what) {
  std::vector<int64_t> shape;
  for (const Json& d : spec.at("shape").array(what + " shape")) {
    if (!d.is_number()) throw Error(what + " has a symbolic dimension; the runner needs static shapes");
    shape.push_back(static_cast<int64_t>(d.number(what + " dimension")));
  }
  return shape;
}

// The runtime logs one warning per VM function when an executable is loaded ("Scope Loaded:");
// hide those lines and pass any other message on.
class StderrFilter {
 public:
  StderrFilter() {
    std::fflush(stderr);
    tmp_ = std::tmpfile();
    if (!tmp_) return;
    saved_ = ::dup(2);
    ::dup2(fileno(tmp_), 2);
  }
  ~StderrFilter() {
    if (!tmp_) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    std::rewind(tmp_);
    char line[4096];
    while (std::fgets(line, sizeof(line), tmp_)) {
      if (std::strstr(line, "Scope Loaded:") || std::strstr(line, "Scope Saving:")) continue;
      std::fputs(line, stderr);
    }
    std::fclose(tmp_);
  }

 private:
  std::FILE* tmp_ = nullptr;
  int saved_ = -1;
};

void Flatten(const tvm::ffi::Any& value, std::vector<tvm::ffi::Tensor>* out) {
  if (auto t = value.try_cast<tvm::ffi::Tensor>()) {
    out->push_back(*t);
  } else if (auto arr = value.try_cast<tvm::ffi::Array<tvm::ffi::Any>>()) {
    for (const tvm::ffi::Any& v : *arr) Flatten(v, out);
  } else {
    throw Error("the entry function returned a " + value.GetTypeKey() + ", not tensors");
  }
}

NpyArray ToNpy(const tvm::ffi::Tensor& t) {
  NpyArray a;
  DLDataType dt = t.dtype();
  std::string name = tvm::ffi::DLDataTypeToString(dt);
  a.descr = nacos::DescrForDtype(name);
  if (a.descr.empty()) throw Error("output dtype " + name + " is not supported by the runner");
  for (int64_t d : t.shape()) a.shape.push_back(d);
  a.data.resize(a.size() * a.item_bytes());
  const DLTensor* dl = t.GetDLTensorPtr();
  if (dl->device.device_type != kDLCPU || !t.IsContiguous())
    throw Error("output is not a contiguous CPU tensor");
  std::memcpy(a.data.data(), static_cast<const char*>(dl->data) + dl->byte_offset, a.data.size());
  return a;
}

// Host memory for the input tensors (64-byte aligned, as the runtime's own CPU allocations).
struct HostAlloc {
  void AllocData(DLTensor* t) {
    size_t n = tvm::ffi::GetDataSize(*t);
    t->data = std::aligned_alloc(64, (std::max<size_t>(n, 1) + 63) / 64 * 64);
    if (!t->data) throw std::bad_alloc();
  }
  void FreeData(DLTensor* t) { std::free(t->data); }
};

struct Timing {
  double median, min, max, mean;
};

Timing Summarise(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  size_t n = ms.size();
  double median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  double sum = 0;
  for (double v : ms) sum += v;
  return {median, ms.front(), ms.back(), sum / n};
}

// A multi-line runtime message on one line (its whitespace runs collapsed to single spaces).
std::string Squash(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string Num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

int Run(const Options& opt) {
  const std::string dir = opt.artifact;
  if (!IsDir(dir)) throw Error("artifact folder '" + dir + "' does not exist");
  const std::string manifest_path = dir + "/manifest.json";
  if (!Exists(manifest_path))
    throw Error("'" + dir + "' is not a NACOS artifact (no manifest.json); make one with `nacos export`");
  Json manifest;
  try {
    manifest = Json::Parse(ReadText(manifest_path));
  } catch (const std::runtime_error& e) {
    throw Error("'" + manifest_path + "': " + e.what());
  }
  try {
    if (manifest.at("format").number("format") != 1)
      throw Error("'" + dir + "' has artifact format " + Num(manifest.at("format").number("format")) +
                  "; this runner reads 1");
    const Json& lib = manifest.at("library");
    const std::string lib_path = dir + "/" + lib.at("file").string("library.file");
    if (!Exists(lib_path)) throw Error("'" + lib_path + "' is missing; export the artifact again");
    if (lib.has("elf_machine") && lib.at("elf_machine").is_string() && *kHostArch &&
        lib.at("elf_machine").string("library.elf_machine") != kHostArch)
      throw Error("'" + lib_path + "' is built for " + lib.at("elf_machine").string("library.elf_machine") +
                  " but this nacos-run for " + kHostArch + "; use a runner built for the board (cmake/*.cmake)");
    if (opt.check_sha && nacos::Sha256File(lib_path) != lib.at("sha256").string("library.sha256"))
      throw Error("'" + lib_path + "' does not match the sha256 in its manifest; export the artifact again");

    const Json& ref = manifest.at("reference");
    const std::string entry = manifest.has("entry") ? manifest.at("entry").string("entry") : "main";
    double tolerance = opt.tolerance;
    if (tolerance < 0) tolerance = ref.has("tolerance") && ref.at("tolerance").is_number()
                                       ? ref.at("tolerance").number("tolerance") : 1e-4;

    // Reference tensors, checked against the manifest's specs.
    const auto& in_specs = manifest.at("inputs").array("inputs");
    const auto& out_specs = manifest.at("outputs").array("outputs");
    const auto& in_files = ref.at("inputs").array("reference.inputs");
    const auto& out_files = ref.at("outputs").array("reference.outputs");
    if (in_files.size() != in_specs.size() || out_files.size() != out_specs.size())
      throw Error("manifest lists " + std::to_string(in_specs.size()) + " inputs / " +
                  std::to_string(out_specs.size()) + " outputs but " + std::to_string(in_files.size()) +
                  " / " + std::to_string(out_files.size()) + " reference files");
    auto load = [&](const Json& file, const Json& spec, const std::string& kind, size_t k) {
      const std::string path = dir + "/" + file.string("reference file");
      NpyArray a = nacos::ReadNpy(path);
      const std::string what = kind + " " + std::to_string(k);
      std::vector<int64_t> shape = ShapeOf(spec, what);
      if (a.shape != shape)
        throw Error("'" + path + "' has shape " + nacos::ShapeString(a.shape) + " but the manifest's " + what +
                    " has " + nacos::ShapeString(shape));
      const std::string dtype = spec.at("dtype").string(what + " dtype");
      if (a.dtype() != dtype)
        throw Error("'" + path + "' holds " + a.dtype() + " but the manifest's " + what + " is " + dtype);
      return a;
    };
    std::vector<NpyArray> inputs, expected;
    for (size_t k = 0; k < in_specs.size(); ++k) inputs.push_back(load(in_files[k], in_specs[k], "input", k));
    for (size_t k = 0; k < out_specs.size(); ++k) expected.push_back(load(out_files[k], out_specs[k], "output", k));

    // Threads: before the runtime's thread pool starts.
    if (opt.threads > 0) {
      ::setenv("TVM_NUM_THREADS", std::to_string(opt.threads).c_str(), 1);
    } else if (!std::getenv("TVM_NUM_THREADS") && manifest.at("board").has("threads") &&
               manifest.at("board").at("threads").is_number()) {
      ::setenv("TVM_NUM_THREADS", Num(manifest.at("board").at("threads").number("threads")).c_str(), 1);
    }
    const char* threads_env = std::getenv("TVM_NUM_THREADS");

    // Load the library and start a VM on the CPU.
    const DLDevice cpu{kDLCPU, 0};
    auto t_load = std::chrono::steady_clock::now();
    auto start_vm = [&]() -> tvm::ffi::Module {
      StderrFilter quiet;
      tvm::ffi::Module exec = tvm::ffi::Module::LoadFromFile(lib_path);
      auto load_exec = exec->GetFunction("vm_load_executable", true);
      if (!load_exec) throw Error("'" + lib_path + "' is not a Relax VM executable (no vm_load_executable)");
      tvm::ffi::Module vm = (*load_exec)().cast<tvm::ffi::Module>();
      auto init = vm->GetFunction("vm_initialization", true);
      if (!init) throw Error("the runtime's VM has no vm_initialization");
      (*init)(static_cast<int>(kDLCPU), 0, kPooledAllocator);
      return vm;
    };
    tvm::ffi::Module vm = start_vm();
    double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
    auto found = vm->GetFunction(entry, true);
    if (!found) throw Error("the executable has no function '" + entry + "'");
    tvm::ffi::Function main_fn = *found;
    // The library must take the tensors the manifest states: as many (the VM's arity, as
    // tvm.runtime.vm reads it) and of those shapes (the entry checks each argument; see below).
    const std::string not_described = "; the manifest does not describe this library: export the artifact again";
    if (auto arity_fn = vm->GetFunction("get_function_arity", true)) {
      int64_t arity = (*arity_fn)(tvm::ffi::String(entry)).cast<int64_t>();
      if (arity != static_cast<int64_t>(inputs.size()))
        throw Error("'" + lib_path + "' takes " + std::to_string(arity) + " inputs but its manifest states " +
                    std::to_string(inputs.size()) + not_described);
    }

    std::vector<tvm::ffi::Tensor> args;
    for (const NpyArray& a : inputs) {
      tvm::ffi::Tensor t = tvm::ffi::Tensor::FromNDAlloc(
          HostAlloc(), tvm::ffi::ShapeView(a.shape.data(), a.shape.size()),
          tvm::ffi::StringToDLDataType(a.dtype()), cpu);
      std::memcpy(t.data_ptr(), a.data.data(), a.data.size());
      args.push_back(t);
    }
    std::vector<tvm::ffi::AnyView> packed(args.begin(), args.end());
    auto call = [&]() {
      tvm::ffi::Any rv;
      main_fn.CallPacked(packed.data(), static_cast<int32_t>(packed.size()), &rv);
      return rv;
    };

    // Check. The first call is also the signature check: the entry refuses arguments whose rank,
    // dtype or shape differ from the compiled ones, naming the parameter and its real type.
    tvm::ffi::Any first;
    try {
      first = call();
    } catch (const tvm::ffi::Error& e) {
      throw Error("'" + lib_path + "' refused the manifest's inputs (" + e.kind() + ": " + Squash(e.message()) + ")" +
                  not_described);
    }
    std::vector<tvm::ffi::Tensor> outs;
    Flatten(first, &outs);
    if (outs.size() != expected.size())
      throw Error("the executable returns " + std::to_string(outs.size()) + " outputs but the reference has " +
                  std::to_string(expected.size()));
    double max_err = 0, scale = 1e-6;  // same floor as nacos.compiler.compare
    std::vector<NpyArray> got;
    for (size_t k = 0; k < outs.size(); ++k) {
      NpyArray o = ToNpy(outs[k]);
      if (o.shape != expected[k].shape)
        throw Error("output " + std::to_string(k) + " has shape " + nacos::ShapeString(o.shape) +
                    " but the reference has " + nacos::ShapeString(expected[k].shape));
      for (int64_t i = 0; i < o.size(); ++i) {
        double r = expected[k].at(i), d = std::fabs(o.at(i) - r);
        if (!(d <= max_err)) max_err = std::isnan(d) ? INFINITY : d;  // NaN counts as a mismatch
        scale = std::max(scale, std::fabs(r));
      }
      got.push_back(std::move(o));
    }
    const double rel = max_err / scale;
    const bool ok = rel <= tolerance;
    if (!opt.save_outputs.empty()) {
      for (size_t k = 0; k < got.size(); ++k)
        nacos::WriteNpy(opt.save_outputs + "/output_" + std::to_string(k) + ".npy", got[k]);
    }

    // Time.
    for (int i = 0; i < opt.warmup; ++i) call();
    std::vector<double> ms;
    for (int i = 0; i < opt.repeat; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      call();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    Timing tm = Summarise(ms);

    std::ostringstream os;
    os << "{\"artifact\": " << nacos::JsonEscape(dir)
       << ", \"board\": " << nacos::JsonEscape(manifest.at("board").at("name").string("board.name"))
       << ", \"runner\": \"nacos-run\", \"entry\": " << nacos::JsonEscape(entry)
       << ", \"ok\": " << (ok ? "true" : "false") << ", \"max_abs_error\": " << Num(max_err)
       << ", \"relative_error\": " << Num(rel) << ", \"tolerance\": " << Num(tolerance)
       << ", \"median_ms\": " << Num(tm.median) << ", \"min_ms\": " << Num(tm.min)
       << ", \"max_ms\": " << Num(tm.max) << ", \"mean_ms\": " << Num(tm.mean) << ", \"repeat\": " << opt.repeat
       << ", \"warmup\": " << opt.warmup << ", \"load_ms\": " << Num(load_ms)
       << ", \"threads\": " << (threads_env ? threads_env : "null")
       << ", \"sha256_checked\": " << (opt.check_sha ? "true" : "false") << ", \"tuned_latency_ms\": ";
    const Json& tuning = manifest.has("tuning") ? manifest.at("tuning") : Json();
    os << (tuning.has("latency_ms") && tuning.at("latency_ms").is_number()
               ? Num(tuning.at("latency_ms").number("latency_ms")) : "null")
       << "}";
    std::cout << os.str() << std::endl;
    if (!ok) {
      std::fprintf(stderr,
                   "nacos-run: error: output differs from the reference: max abs error %.3g "
                   "(relative %.3g > %.0e)\n", max_err, rel, tolerance);
      return kExitMismatch;
    }
    return 0;
  } catch (const Error&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw Error(e.what());
  }
}

std::string OneLine(std::string s) {
  // First line of a (possibly multi-line, backtrace-carrying) runtime message.
  size_t nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(ParseArgs(argc, argv));
  } catch (const tvm::ffi::Error& e) {
    std::fprintf(stderr, "nacos-run: error: TVM runtime: %s: %s\n", e.kind().c_str(), OneLine(e.message()).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nacos-run: error: %s\n", OneLine(e.what()).c_str());
  }
  return kExitError;
}
