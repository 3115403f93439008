// libFuzzer's entry for a program with its own main (LLVM 11+). Linked only in builds made
// with -sanitize=fuzzer (ops/fuzz); other builds never call it.
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
