#ifndef GREENLIGHT_CLIBPQ_SHIM_H
#define GREENLIGHT_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
