/*
 * storage.c - the `storage` metric plugin of usagectx: how many bytes the person stores.
 *
 * Options (config.plugins.storage), all optional:
 *   directory       absolute path; when set, the metric has an authoritative source: `fetch` adds up the sizes
 *                   (st_size, saturating at INT64_MAX) of the regular files under it whose base name matches one
 *                   of `patterns`
 *   patterns        fnmatch patterns, e.g. ["*.md", "*.txt"] (default: every regular file)
 *   recursive       descend into subdirectories (default true)
 *   followSymlinks  follow symbolic links (default false)
 *   includeHidden   look at names starting with a dot (default false)
 * Without a directory the metric is counted by increments only and declares no fetch. The scan plumbing is shared
 * with the other scan plugin in plugins/support.
 */
#include <stdint.h>

#define MEBIBYTE (INT64_C(1) << 20)

#include "storage.h"
#include "plugin_support.h"
#include "usagectx_plugin.h"

static void *create(const usagectx_host *host, const char *options_json, char **error) {
  usagectx_metric metric = {
    .name = "storage",
    .unit = "bytes",
    .kind = "bytes",
    .limit_free = 100 * MEBIBYTE,
    .limit_pro = 10 * 1024 * MEBIBYTE,
    .limit_ultra = 100 * 1024 * MEBIBYTE,
    .period = "unlimited",
  };
  return ups_scan_plugin_create("storage", STORAGE_PLUGIN_VERSION, metric, host, options_json, error);
}

static int32_t fetch(void *instance, uint32_t index, int64_t *value, char **error) {
  return ups_scan_plugin_fetch(instance, index, value, error, UPS_SCAN_BYTES);
}

static const usagectx_plugin plugin = {
  .abi_version = USAGECTX_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(usagectx_plugin),
  .name = "storage",
  .version = STORAGE_PLUGIN_VERSION,
  .create = create,
  .destroy = ups_scan_plugin_destroy,
  .metric_count = ups_scan_plugin_metric_count,
  .metric = ups_scan_plugin_metric,
  .measure = NULL,
  .fetch = fetch,
  .release = ups_release,
};

UPS_EXPORT const usagectx_plugin *usagectx_plugin_entry(uint32_t host_abi_version) {
  return host_abi_version >= 1 ? &plugin : NULL;
}
