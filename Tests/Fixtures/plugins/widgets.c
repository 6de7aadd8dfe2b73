/*
 * widgets.c - a third-party style metric plugin used by the end-to-end tests.
 *
 * Built with the system C compiler against protocol/usagectx_plugin.h alone:
 *     cc -shared -fPIC -I protocol -o widgets.so Tests/Fixtures/plugins/widgets.c
 * It provides the metric "widgets" (count, limits 10 / 100 / unlimited) whose increments take a field "boxes";
 * each box holds `per_box` widgets (option, default 3), so amount = boxes * per_box, computed by the measure hook.
 *
 * Compile-time switches turn it into the broken plugins the failure tests need:
 *   -DWIDGETS_ABI=99           claim an ABI from the future
 *   -DWIDGETS_METRIC=documents declare a metric another plugin already provides
 *   -DWIDGETS_NO_ENTRY         export no entry function
 *   -DWIDGETS_NAME=other       use another plugin name
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usagectx_plugin.h"

#ifndef WIDGETS_ABI
#define WIDGETS_ABI USAGECTX_PLUGIN_ABI_VERSION
#endif
#define STRINGIFY2(x) #x
#define STRINGIFY(x) STRINGIFY2(x)
#ifdef WIDGETS_METRIC
#define METRIC_NAME STRINGIFY(WIDGETS_METRIC)
#else
#define METRIC_NAME "widgets"
#endif
#ifdef WIDGETS_NAME
#define PLUGIN_NAME STRINGIFY(WIDGETS_NAME)
#else
#define PLUGIN_NAME "widgets"
#endif

struct instance {
  long long per_box;
  usagectx_metric metric;
};

static const char *const fields[] = {"boxes"};

static char *copy_error(const char *message) {
  char *copy = malloc(strlen(message) + 1);
  if (copy) strcpy(copy, message);
  return copy;
}

/* Options are tiny: "null", or {"per_box": N} written compactly by the host. */
static void *create(const usagectx_host *host, const char *options_json, char **error) {
  long long per_box = 3;
  const char *found = strstr(options_json, "\"per_box\":");
  if (found) {
    char *end = NULL;
    per_box = strtoll(found + strlen("\"per_box\":"), &end, 10);
    if (per_box <= 0) {
      *error = copy_error("config.plugins." PLUGIN_NAME ".per_box: must be a positive integer");
      return NULL;
    }
  } else if (strcmp(options_json, "null") != 0 && strcmp(options_json, "{}") != 0) {
    *error = copy_error("config.plugins." PLUGIN_NAME ": only per_box is a known setting");
    return NULL;
  }
  struct instance *self = calloc(1, sizeof *self);
  if (!self) return NULL;
  self->per_box = per_box;
  self->metric.struct_size = sizeof self->metric;
  self->metric.flags = USAGECTX_METRIC_MEASURES;
  self->metric.name = METRIC_NAME;
  self->metric.unit = "widgets";
  self->metric.kind = "count";
  self->metric.limit_free = 10;
  self->metric.limit_pro = 100;
  self->metric.limit_ultra = USAGECTX_UNLIMITED;
  self->metric.period = "unlimited";
  self->metric.fields = fields;
  self->metric.field_count = 1;
  if (host && host->struct_size >= sizeof *host && host->log) {
    char line[64];
    snprintf(line, sizeof line, "created with per_box %lld", per_box);
    host->log(host->context, USAGECTX_LOG_DEBUG, line);
  }
  return self;
}

static void destroy(void *instance) { free(instance); }

static uint32_t metric_count(void *instance) {
  (void)instance;
  return 1;
}

static const usagectx_metric *metric(void *instance, uint32_t index) {
  return index == 0 ? &((struct instance *)instance)->metric : NULL;
}

static int32_t measure(void *instance, uint32_t index, const usagectx_measure_input *input,
                       usagectx_measure_output *output) {
  struct instance *self = instance;
  if (index != 0 || input->field_count < 1) return USAGECTX_ERROR;
  /* A refusal the tests can trigger: more than 1000 boxes at once. */
  if (input->fields[0] > 1000) return USAGECTX_ERROR;
  output->amount = input->fields[0] * self->per_box;
  output->cost = 0;
  output->priced = 1;
  output->attributes = NULL;
  output->attribute_count = 0;
  return USAGECTX_OK;
}

static void release(void *instance, void *memory) {
  (void)instance;
  free(memory);
}

static const usagectx_plugin plugin = {
    .abi_version = WIDGETS_ABI,
    .struct_size = sizeof(usagectx_plugin),
    .name = PLUGIN_NAME,
    .version = "0.1.0",
    .create = create,
    .destroy = destroy,
    .metric_count = metric_count,
    .metric = metric,
    .measure = measure,
    .fetch = NULL,
    .release = release,
};

#ifndef WIDGETS_NO_ENTRY
const usagectx_plugin *usagectx_plugin_entry(uint32_t host_abi_version) {
  return host_abi_version >= 1 ? &plugin : NULL;
}
#else
const usagectx_plugin *not_the_entry(void) { return &plugin; }
#endif
