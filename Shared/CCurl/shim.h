#ifndef GREENLIGHT_CCURL_SHIM_H
#define GREENLIGHT_CCURL_SHIM_H

#include <curl/curl.h>

/// curl_easy_setopt is variadic and so cannot be called from Swift; these typed wrappers can.
static inline CURLcode greenlight_curl_set_string(CURL *curl, CURLoption option, const char *value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode greenlight_curl_set_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode greenlight_curl_set_pointer(CURL *curl, CURLoption option, void *value) {
    return curl_easy_setopt(curl, option, value);
}
typedef size_t (*greenlight_curl_read_callback)(char *buffer, size_t size, size_t nitems, void *userdata);
static inline CURLcode greenlight_curl_set_read_function(CURL *curl, greenlight_curl_read_callback callback) {
    return curl_easy_setopt(curl, CURLOPT_READFUNCTION, callback);
}
static inline CURLcode greenlight_curl_get_long(CURL *curl, CURLINFO info, long *value) {
    return curl_easy_getinfo(curl, info, value);
}

#endif
