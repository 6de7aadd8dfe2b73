#pragma once
// Linux interfaces the Glibc module does not bring in: eventfd (waking the server loop) and signalfd (SIGTERM as
// an event in the loop instead of an asynchronous handler).
#include <sys/eventfd.h>
#include <sys/signalfd.h>
