/*
 * documents.c - the `documents` metric plugin of usagectx: how many documents the person has.
 *
 * Options (config.plugins.documents), all optional:
 *   directory       absolute path; when set, the metric has an authoritative source: `fetch` counts the regular
 *                   files under it whose base name matches one of `patterns`
 *   patterns        fnmatch patterns, e.g. ["*.md", "*.txt"] (default: every regular file)
 *   recursive       descend into subdirectories (default true)
 *   followSymlinks  follow symbolic links (default false)
 *   includeHidden   look at names starting with a dot (default false)
 * Without a directory the metric is counted by increments only and declares no fetch.
 */
#include <stdlib.h>

#include "documents.h"
#include "plugin_support.h"
#include "usagectx_plugin.h"

typedef struct documents_instance {
  ups_scan_config scan;
  usagectx_metric metric;
} documents_instance;

static void destroy(void *instance) {
  documents_instance *self = instance;
  if (self == NULL) return;
  ups_scan_config_free(&self->scan);
  free(self);
}

static void *create(const usagectx_host *host, const char *options_json, char **error) {
  if (error != NULL) *error = NULL;
  json_t *options;
  if (ups_parse_options("documents", options_json, &options, error) != 0) return NULL;
  documents_instance *self = calloc(1, sizeof *self);
  if (self == NULL) {
    json_decref(options);
    ups_fail(error, "config.plugins.documents: out of memory");
    return NULL;
  }
  int status = ups_scan_config_parse(&self->scan, "documents", options, error);
  json_decref(options);
  if (status != 0) {
    destroy(self);
    return NULL;
  }
  self->metric = (usagectx_metric){
    .struct_size = sizeof(usagectx_metric),
    .flags = self->scan.directory != NULL ? USAGECTX_METRIC_FETCHES : 0,
    .name = "documents",
    .unit = "documents",
    .kind = "count",
    .limit_free = 100,
    .limit_pro = 10000,
    .limit_ultra = USAGECTX_UNLIMITED,
    .period = "unlimited",
  };
  char described[512];
  ups_scan_describe(&self->scan, described, sizeof described);
  ups_log(host, USAGECTX_LOG_DEBUG, "version %s, files: %s", DOCUMENTS_PLUGIN_VERSION, described);
  return self;
}

static uint32_t metric_count(void *instance) {
  (void)instance;
  return 1;
}

static const usagectx_metric *metric(void *instance, uint32_t index) {
  documents_instance *self = instance;
  return index == 0 ? &self->metric : NULL;
}

static int32_t fetch(void *instance, uint32_t index, int64_t *value, char **error) {
  documents_instance *self = instance;
  if (error != NULL) *error = NULL;
  if (index != 0 || value == NULL) return ups_fail(error, "documents has no metric at index %u", index);
  ups_scan_result found;
  if (ups_scan(&self->scan, &found, error) != 0) return USAGECTX_ERROR;
  *value = found.files;
  return USAGECTX_OK;
}

static const usagectx_plugin plugin = {
  .abi_version = USAGECTX_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(usagectx_plugin),
  .name = "documents",
  .version = DOCUMENTS_PLUGIN_VERSION,
  .create = create,
  .destroy = destroy,
  .metric_count = metric_count,
  .metric = metric,
  .measure = NULL,
  .fetch = fetch,
  .release = ups_release,
};

UPS_EXPORT const usagectx_plugin *usagectx_plugin_entry(uint32_t host_abi_version) {
  return host_abi_version >= 1 ? &plugin : NULL;
}
