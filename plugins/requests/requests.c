/*
 * requests.c - the `requests` metric plugin of usagectx: requests made in the current period (daily by default;
 * configuration may change the period on the host side).
 *
 * The smallest complete plugin: one metric, no options, no measure hook and no fetch. Its authority is the count
 * the host keeps from increments.
 */
#include <stddef.h>

#include "plugin_support.h"
#include "requests.h"
#include "usagectx_plugin.h"

/* The descriptor never changes, so it is a constant and an instance needs no memory of its own. */
static const usagectx_metric requests_metric = {
  .struct_size = sizeof(usagectx_metric),
  .flags = 0,
  .name = "requests",
  .unit = "requests",
  .kind = "requests",
  .limit_free = 100,
  .limit_pro = 5000,
  .limit_ultra = 50000,
  .period = "daily",
};

/* A plugin without state still returns a non-NULL instance: NULL means that create failed. */
static const char requests_instance = 0;

static void *create(const usagectx_host *host, const char *options_json, char **error) {
  if (error != NULL) *error = NULL;
  if (ups_expect_no_options("requests", options_json, error) != 0) return NULL;
  ups_log(host, USAGECTX_LOG_DEBUG, "version %s, counted by increments, no options", REQUESTS_PLUGIN_VERSION);
  return (void *)&requests_instance;
}

static void destroy(void *instance) { (void)instance; }

static uint32_t metric_count(void *instance) {
  (void)instance;
  return 1;
}

static const usagectx_metric *metric(void *instance, uint32_t index) {
  (void)instance;
  return index == 0 ? &requests_metric : NULL;
}

static const usagectx_plugin plugin = {
  .abi_version = USAGECTX_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(usagectx_plugin),
  .name = "requests",
  .version = REQUESTS_PLUGIN_VERSION,
  .create = create,
  .destroy = destroy,
  .metric_count = metric_count,
  .metric = metric,
  .measure = NULL,
  .fetch = NULL,
  .release = ups_release,
};

UPS_EXPORT const usagectx_plugin *usagectx_plugin_entry(uint32_t host_abi_version) {
  return host_abi_version >= 1 ? &plugin : NULL;
}
