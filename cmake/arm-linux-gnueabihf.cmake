# Cross build of nacos-run for arm-linux-gnueabihf boards with Debian's cross compilers
# (apt-get install g++-arm-linux-gnueabihf; tools/install.sh installs them):
#     cmake -S . -B build/runner-arm-linux-gnueabihf -DCMAKE_TOOLCHAIN_FILE=cmake/arm-linux-gnueabihf.cmake
# The TVM runtime is then compiled from the wheel's sources into the runner (NACOS_TVM_RUNTIME=source).
# Run the result on this machine with: qemu-arm -L /usr/arm-linux-gnueabihf build/runner-arm-linux-gnueabihf/nacos-run ARTIFACT
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(NACOS_CROSS_TRIPLE arm-linux-gnueabihf)

find_program(CMAKE_C_COMPILER NAMES ${NACOS_CROSS_TRIPLE}-gcc REQUIRED)
find_program(CMAKE_CXX_COMPILER NAMES ${NACOS_CROSS_TRIPLE}-g++ REQUIRED)
set(CMAKE_FIND_ROOT_PATH /usr/${NACOS_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_C_FLAGS_INIT "-mfpu=neon-vfpv4 -mfloat-abi=hard")
set(CMAKE_CXX_FLAGS_INIT "-mfpu=neon-vfpv4 -mfloat-abi=hard")
