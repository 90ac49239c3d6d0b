# Cross build of nacos-run for aarch64-linux-gnu boards with Debian's cross compilers
# (apt-get install g++-aarch64-linux-gnu; tools/install.sh installs them):
#     cmake -S . -B build/runner-aarch64-linux-gnu -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# The TVM runtime is then compiled from the wheel's sources into the runner (NACOS_TVM_RUNTIME=source).
# Run the result on this machine with: qemu-aarch64 -L /usr/aarch64-linux-gnu build/runner-aarch64-linux-gnu/nacos-run ARTIFACT
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(NACOS_CROSS_TRIPLE aarch64-linux-gnu)

find_program(CMAKE_C_COMPILER NAMES ${NACOS_CROSS_TRIPLE}-gcc REQUIRED)
find_program(CMAKE_CXX_COMPILER NAMES ${NACOS_CROSS_TRIPLE}-g++ REQUIRED)
set(CMAKE_FIND_ROOT_PATH /usr/${NACOS_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
