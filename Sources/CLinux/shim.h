#pragma once
// Linux interfaces the Glibc module does not bring in: eventfd (waking the server loop), signalfd (SIGTERM as
// an event in the loop instead of an asynchronous handler) and pidfd (a client process that ended, reaped or not).
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/pidfd.h>
