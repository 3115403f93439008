#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>
#include "cspawn.h"

int flowgate_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

int flowgate_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

#include <sys/prctl.h>

int flowgate_die_with_parent(int signal, int parent) {
    if (prctl(PR_SET_PDEATHSIG, signal) != 0) return -1;
    return getppid() == parent ? 0 : -1;
}
