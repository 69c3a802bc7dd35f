// glibc's allocator controls (malloc_trim), which Swift's Glibc module does not export. Elsewhere (musl, Darwin)
// nothing is declared, and HeapTrimmer does nothing.
#if __has_include(<features.h>)
#include <features.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif
