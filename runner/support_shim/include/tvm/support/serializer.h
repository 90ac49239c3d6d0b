// NACOS stand-in for tvm/support/serializer.h: the handlers live in io.h next to Stream.
#ifndef NACOS_SHIM_TVM_SUPPORT_SERIALIZER_H_
#define NACOS_SHIM_TVM_SUPPORT_SERIALIZER_H_
#include <tvm/support/io.h>
#endif  // NACOS_SHIM_TVM_SUPPORT_SERIALIZER_H_
