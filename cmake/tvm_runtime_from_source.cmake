# The TVM runtime and tvm_ffi compiled from the sources the apache-tvm / apache-tvm-ffi wheels ship,
# for the machine CMake targets (a board when cross-compiling). Only what the Relax VM on the CPU
# needs: tvm_ffi (objects, functions, modules, dynamic library loading), the CPU device, tensors,
# memory manager, thread pool, and the VM (bytecode, executable, builtins).
#
# The wheel lacks TVM's support headers (include/tvm/support/, src/support/); NACOS's stand-ins
# are in runner/support_shim (see its README). Defines the OBJECT library `nacos_tvm_runtime`:
# object files, not an archive, so that the functions the runtime registers from static
# initialisers are all linked in.

set(_tvm "${NACOS_TVM_WHEEL}")
set(_ffi "${NACOS_TVM_FFI_WHEEL}")
set(_shim "${CMAKE_CURRENT_LIST_DIR}/../runner/support_shim")

set(_ffi_sources
    backtrace.cc container.cc custom_allocator.cc dtype.cc error.cc function.cc init_once.cc object.cc tensor.cc
    extra/dataclass.cc extra/env_c_api.cc extra/env_context.cc extra/json_parser.cc extra/json_writer.cc
    extra/library_module.cc extra/library_module_dynamic_lib.cc extra/library_module_system_lib.cc
    extra/module.cc extra/reflection_extra.cc extra/serialization.cc extra/structural_equal.cc
    extra/structural_hash.cc extra/structural_mutate.cc extra/structural_visit.cc extra/visit_error_context.cc)
list(TRANSFORM _ffi_sources PREPEND "${_ffi}/src/ffi/")

# Left out: builtin_fp16.cc (needs compiler-rt's builtin_fp16.h, not shipped), const_loader_module.cc
# and static_library.cc (BYOC / static-library artifacts), vm/ KV caches, attention and LM support
# (LLM serving), rpc/ (for a later RPC server), extra/ (contrib libraries, disco).
set(_runtime_sources
    cpu_device_api.cc device_api.cc file_utils.cc logging.cc module.cc tensor.cc thread_pool.cc
    threading_backend.cc timer.cc workspace_pool.cc memory/memory_manager.cc
    vm/builtin.cc vm/bytecode.cc vm/executable.cc vm/vm.cc)
list(TRANSFORM _runtime_sources PREPEND "${_tvm}/src/runtime/")

set(_missing "")
foreach(src IN LISTS _ffi_sources _runtime_sources)
  if(NOT EXISTS "${src}")
    list(APPEND _missing "${src}")
  endif()
endforeach()
if(_missing)
  message(FATAL_ERROR "the wheel lacks runtime sources this build needs:\n  ${_missing}")
endif()

add_library(nacos_tvm_runtime OBJECT ${_ffi_sources} ${_runtime_sources})
# PIC: the objects end up in an executable that model.so calls back into (-rdynamic).
set_target_properties(nacos_tvm_runtime PROPERTIES POSITION_INDEPENDENT_CODE ON CXX_VISIBILITY_PRESET default)
target_compile_definitions(nacos_tvm_runtime
  PUBLIC TVM_FFI_USE_LIBBACKTRACE=0 TVM_FFI_BACKTRACE_ON_SEGFAULT=0 TVM_THREADPOOL_USE_OPENMP=0
         DMLC_USE_LOGGING_LIBRARY=<tvm/runtime/logging.h>)
target_include_directories(nacos_tvm_runtime SYSTEM
  PUBLIC "${_tvm}/include" "${_ffi}/include" "${_shim}/include"
  PRIVATE "${_ffi}/src" "${_tvm}/src/runtime" "${_shim}/src/runtime" "${_shim}/src/runtime/vm")
target_compile_options(nacos_tvm_runtime PRIVATE -w)  # third-party code: its warnings are not ours
find_package(Threads REQUIRED)
target_link_libraries(nacos_tvm_runtime PUBLIC Threads::Threads ${CMAKE_DL_LIBS})
