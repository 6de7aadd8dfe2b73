#pragma once
// libFuzzer's driver, called from the drivers' own main (SwiftPM gives an executable's main a name of its own, so
// libFuzzer's main is not used).
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
