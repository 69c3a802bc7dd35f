/*
 * A process whose wall clock is wrong, for Greenlight's tests: preloaded (LD_PRELOAD), it adds
 * GREENLIGHT_SKEWED_CLOCK_SECONDS to every clock_gettime(CLOCK_REALTIME) the program makes itself, which is what
 * Swift's Date() reads. Unlike Debian's libfaketime it leaves gettimeofday() alone: librdkafka computes the
 * deadlines of its condition waits from gettimeofday() and waits on them through glibc's own (unfaked) clock, so
 * faking both would stall every one of its waits by the offset.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static long offset_seconds;
static int offset_read;

int clock_gettime(clockid_t clock, struct timespec *time) {
    if (!real_clock_gettime) real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    if (!offset_read) {
        const char *text = getenv("GREENLIGHT_SKEWED_CLOCK_SECONDS");
        offset_seconds = text ? atol(text) : 0;
        offset_read = 1;
    }
    int result = real_clock_gettime(clock, time);
    if (result == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) time->tv_sec += offset_seconds;
    return result;
}
