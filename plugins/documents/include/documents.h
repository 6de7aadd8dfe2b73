/*
 * documents.h - the documents metric plugin of usagectx. The library exports one function, `usagectx_plugin_entry`,
 * which the host finds with dlsym (see protocol/usagectx_plugin.h); this header declares it and names the plugin's
 * version.
 */
#ifndef USAGECTX_DOCUMENTS_PLUGIN_H
#define USAGECTX_DOCUMENTS_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DOCUMENTS_PLUGIN_VERSION "1.0.0"

struct usagectx_plugin;

/** The plugin's description for a host of ABI `host_abi_version`; NULL for a host older than ABI 1. */
const struct usagectx_plugin *usagectx_plugin_entry(uint32_t host_abi_version);

#ifdef __cplusplus
}
#endif

#endif /* USAGECTX_DOCUMENTS_PLUGIN_H */
