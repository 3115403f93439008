// glibc functions Swift's Glibc module does not import (they need _GNU_SOURCE).
#include <spawn.h>

/// The child closes every descriptor from `lowest` up before exec (glibc 2.34+).
int flowgate_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);
/// pipe2(fds, O_CLOEXEC): neither end leaks into a process spawned by another thread.
int flowgate_pipe_cloexec(int fds[2]);
/// prctl(PR_SET_PDEATHSIG, signal): this process gets `signal` when its parent dies. Returns -1
/// when the parent is already gone (its pid was not `parent`).
int flowgate_die_with_parent(int signal, int parent);
