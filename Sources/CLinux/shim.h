#pragma once
// Linux interfaces the Glibc module does not bring in: eventfd (waking the server loop), signalfd (SIGTERM as
// an event in the loop instead of an asynchronous handler) and pidfd (a client process that ended, reaped or not).
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/pidfd.h>
// pipe2 (both ends close-on-exec at once, so no child spawned meanwhile inherits them); glibc declares it only
// under _GNU_SOURCE.
extern int pipe2(int pipefd[2], int flags);
