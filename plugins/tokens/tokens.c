/*
 * tokens.c - the `tokens` metric plugin of usagectx: language-model tokens this month, split by model, with their
 * cost.
 *
 * An increment gives the fields `input` and `output`, and optionally `cacheRead` and `cacheWrite` (prompt-cache
 * tokens, as LLM tools log them); `measure` makes its amount their sum (saturating at INT64_MAX) and its cost
 * (each field × its price) / 1,000,000 from the price table (prices.c), matched by the `model` label. An unknown or missing model is counted at zero cost and reported as not
 * priced. The attributes are `provider` (the `provider` label when given, else the table's) and `pricedAs` (the
 * listed model that set the price).
 *
 * Options (config.plugins.tokens), all optional:
 *   currency  the currency of every price, e.g. "EUR" (default "USD"); prices are not converted
 *   prices    {"model": {"input": x, "output": y, "cacheRead": r, "cacheWrite": w, "provider": "p"}}: per million
 *             tokens, added to or overriding the shipped table; cache prices default to the input price; provider
 *             defaults to the provider of the listed model the name matches, else "custom"
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_support.h"
#include "prices.h"
#include "tokens.h"
#include "usagectx_plugin.h"

static const char *const token_fields[] = {"input", "output", "cacheRead", "cacheWrite"};

typedef struct tokens_instance {
  /* The table in use: the shipped one with the configured prices applied. Names and providers are owned. */
  tokens_price *prices;
  size_t price_count;
  size_t price_capacity;
  char *currency;
  usagectx_metric metric;
  /* What the last `measure` returned as attributes, valid until the next call. */
  usagectx_label attributes[2];
  /* A copy of the last increment's `provider` label, which the host's memory would not outlive. */
  char *label_provider;
  /* The last model looked up and its price (NULL: not in the table): increments mostly repeat their model, so the
     table is searched once per run of a model. */
  char *matched_model;
  const tokens_price *matched_price;
} tokens_instance;

static char *copy_lowercase(const char *text) {
  char *copy = strdup(text);
  if (copy == NULL) return NULL;
  for (char *at = copy; *at != '\0'; at++) {
    if (*at >= 'A' && *at <= 'Z') *at = (char)(*at - 'A' + 'a');
  }
  return copy;
}

static void destroy(void *instance) {
  tokens_instance *self = instance;
  if (self == NULL) return;
  // The table's strings are this instance's own copies; tokens_price only shows them as const.
  for (size_t index = 0; index < self->price_count; index++) {
    free((void *)self->prices[index].model);
    free((void *)self->prices[index].provider);
  }
  free(self->prices);
  free(self->currency);
  free(self->label_provider);
  free(self->matched_model);
  free(self);
}

/* Adds a model's prices, or replaces them when the table lists the model (by its lowercase name). */
static bool set_price(tokens_instance *self, const char *model, const char *provider, double input, double output,
                      double cache_read, double cache_write) {
  // The table changes: what was looked up in it no longer holds.
  free(self->matched_model);
  self->matched_model = NULL;
  self->matched_price = NULL;
  char *name = copy_lowercase(model);
  char *provider_copy = strdup(provider);
  if (name == NULL || provider_copy == NULL) goto failed;
  for (size_t index = 0; index < self->price_count; index++) {
    tokens_price *entry = &self->prices[index];
    if (strcmp(entry->model, name) == 0) {
      free(name);
      free((void *)entry->provider);
      entry->provider = provider_copy;
      entry->input = input;
      entry->output = output;
      entry->cache_read = cache_read;
      entry->cache_write = cache_write;
      return true;
    }
  }
  if (self->price_count == self->price_capacity) {
    size_t capacity = self->price_capacity == 0 ? 64 : self->price_capacity * 2;
    tokens_price *grown = realloc(self->prices, capacity * sizeof *grown);
    if (grown == NULL) goto failed;
    self->prices = grown;
    self->price_capacity = capacity;
  }
  self->prices[self->price_count++] = (tokens_price){name, provider_copy, input, output, cache_read, cache_write};
  return true;
failed:
  free(name);
  free(provider_copy);
  return false;
}

/* Applies one member of `prices`: `model` → `entry`. */
static int apply_price(tokens_instance *self, const char *model, json_t *entry, char **error) {
  const char *path = "config.plugins.tokens.prices";
  // Only the part after the last '/' of an increment's model is matched, so such a name could never apply.
  if (model[0] == '\0' || strchr(model, '/') != NULL) {
    return ups_fail(error, "%s.%s: is not a model name (it must be non-empty and without '/')", path, model);
  }
  json_t *input = json_object_get(entry, "input");
  json_t *output = json_object_get(entry, "output");
  if (!json_is_number(input) || !json_is_number(output) || !isfinite(json_number_value(input)) ||
      !isfinite(json_number_value(output)) || json_number_value(input) < 0 || json_number_value(output) < 0) {
    return ups_fail(error, "%s.%s: needs input and output prices (non-negative numbers)", path, model);
  }
  const char *provider = NULL;
  double cache[2] = {json_number_value(input), json_number_value(input)};
  const char *key;
  json_t *value;
  json_object_foreach(entry, key, value) {
    if (strcmp(key, "input") == 0 || strcmp(key, "output") == 0) continue;
    int cache_index = strcmp(key, "cacheRead") == 0 ? 0 : strcmp(key, "cacheWrite") == 0 ? 1 : -1;
    if (cache_index >= 0) {
      if (!json_is_number(value) || !isfinite(json_number_value(value)) || json_number_value(value) < 0) {
        return ups_fail(error, "%s.%s.%s: must be a non-negative number", path, model, key);
      }
      cache[cache_index] = json_number_value(value);
      continue;
    }
    if (strcmp(key, "provider") != 0) return ups_fail(error, "%s.%s.%s: is not a known setting", path, model, key);
    provider = json_string_value(value);
    if (provider == NULL || provider[0] == '\0') {
      return ups_fail(error, "%s.%s.provider: must be a non-empty string", path, model);
    }
  }
  if (provider == NULL) {
    // The provider of what the name matches so far: a dated override of a listed model keeps its provider.
    const tokens_price *listed = tokens_match(self->prices, self->price_count, model);
    provider = listed != NULL ? listed->provider : "custom";
  }
  if (!set_price(self, model, provider, json_number_value(input), json_number_value(output), cache[0], cache[1])) {
    return ups_fail(error, "%s.%s: out of memory", path, model);
  }
  return 0;
}

static int apply_options(tokens_instance *self, json_t *options, size_t *configured, char **error) {
  const char *key;
  json_t *value;
  json_object_foreach(options, key, value) {
    if (strcmp(key, "currency") == 0) {
      const char *currency = json_string_value(value);
      if (currency == NULL || currency[0] == '\0') {
        return ups_fail(error, "config.plugins.tokens.currency: must be a non-empty string");
      }
      char *copy = strdup(currency);
      if (copy == NULL) return ups_fail(error, "config.plugins.tokens.currency: out of memory");
      free(self->currency);
      self->currency = copy;
    } else if (strcmp(key, "prices") == 0) {
      if (!json_is_object(value)) return ups_fail(error, "config.plugins.tokens.prices: must be an object");
      const char *model;
      json_t *entry;
      json_object_foreach(value, model, entry) {
        if (apply_price(self, model, entry, error) != 0) return USAGECTX_ERROR;
        (*configured)++;
      }
    } else {
      return ups_fail(error, "config.plugins.tokens.%s: is not a known setting", key);
    }
  }
  return 0;
}

static void *create(const usagectx_host *host, const char *options_json, char **error) {
  if (error != NULL) *error = NULL;
  json_t *options;
  if (ups_parse_options("tokens", options_json, &options, error) != 0) return NULL;
  tokens_instance *self = calloc(1, sizeof *self);
  bool ready = self != NULL && (self->currency = strdup(TOKENS_PRICES_CURRENCY)) != NULL;
  for (size_t index = 0; ready && index < tokens_standard_price_count; index++) {
    const tokens_price *price = &tokens_standard_prices[index];
    ready = set_price(self, price->model, price->provider, price->input, price->output, price->cache_read,
                      price->cache_write);
  }
  if (!ready) {
    json_decref(options);
    destroy(self);
    ups_fail(error, "config.plugins.tokens: out of memory");
    return NULL;
  }
  size_t configured = 0;
  int status = options != NULL ? apply_options(self, options, &configured, error) : 0;
  json_decref(options);
  if (status != 0) {
    destroy(self);
    return NULL;
  }
  self->metric = (usagectx_metric){
    .struct_size = sizeof(usagectx_metric),
    .flags = USAGECTX_METRIC_MEASURES,
    .name = "tokens",
    .unit = "tokens",
    .kind = "tokens",
    .limit_free = 100000,
    .limit_pro = 5000000,
    .limit_ultra = 50000000,
    .period = "monthly",
    .fields = token_fields,
    .field_count = sizeof token_fields / sizeof token_fields[0],
    .breakdown_label = "model",
    .currency = self->currency,
  };
  ups_log(host, USAGECTX_LOG_DEBUG, "version %s, %zu priced models (prices as of %s, %zu configured), currency %s",
          TOKENS_PLUGIN_VERSION, self->price_count, TOKENS_PRICES_AS_OF, configured, self->currency);
  return self;
}

static uint32_t metric_count(void *instance) {
  (void)instance;
  return 1;
}

static const usagectx_metric *metric(void *instance, uint32_t index) {
  tokens_instance *self = instance;
  return index == 0 ? &self->metric : NULL;
}

/* The value of the first label named `key`, or NULL. */
static const char *label(const usagectx_measure_input *input, const char *key) {
  if (input->labels == NULL) return NULL;
  for (uint32_t index = 0; index < input->label_count; index++) {
    const usagectx_label *entry = &input->labels[index];
    if (entry->key != NULL && entry->value != NULL && strcmp(entry->key, key) == 0) return entry->value;
  }
  return NULL;
}

static int64_t field(const usagectx_measure_input *input, uint32_t index) {
  return input->fields != NULL && index < input->field_count ? input->fields[index] : 0;
}

static int32_t measure(void *instance, uint32_t index, const usagectx_measure_input *input,
                       usagectx_measure_output *output) {
  tokens_instance *self = instance;
  // Whatever the last call returned is no longer needed by the host.
  free(self->label_provider);
  self->label_provider = NULL;
  if (index != 0 || input == NULL || output == NULL || !UPS_HAS_FIELD(input, usagectx_measure_input, label_count) ||
      !UPS_HAS_FIELD(output, usagectx_measure_output, attribute_count)) {
    return USAGECTX_ERROR;
  }
  int64_t input_tokens = field(input, 0);
  int64_t output_tokens = field(input, 1);
  int64_t cache_read_tokens = field(input, 2);
  int64_t cache_write_tokens = field(input, 3);
  // Fields are non-negative by contract; refuse rather than compute a negative amount or cost.
  if (input_tokens < 0 || output_tokens < 0 || cache_read_tokens < 0 || cache_write_tokens < 0) return USAGECTX_ERROR;

  const char *provider = label(input, "provider");
  if (provider != NULL && (self->label_provider = strdup(provider)) == NULL) return USAGECTX_ERROR;
  const char *model = label(input, "model");
  const tokens_price *price = NULL;
  if (model != NULL) {
    if (self->matched_model != NULL && strcmp(self->matched_model, model) == 0) {
      price = self->matched_price;
    } else {
      price = tokens_match(self->prices, self->price_count, model);
      free(self->matched_model);
      self->matched_model = strdup(model);  // out of memory: no cache, the next call searches again
      self->matched_price = price;
    }
  }

  int64_t counts[] = {input_tokens, output_tokens, cache_read_tokens, cache_write_tokens};
  int64_t amount = 0;
  for (size_t position = 0; position < sizeof counts / sizeof counts[0]; position++) {
    amount = amount > INT64_MAX - counts[position] ? INT64_MAX : amount + counts[position];
  }
  output->amount = amount;
  uint32_t count = 0;
  if (price == NULL) {
    output->priced = 0;
    output->cost = 0;
    if (self->label_provider != NULL) self->attributes[count++] = (usagectx_label){"provider", self->label_provider};
  } else {
    output->priced = 1;
    output->cost = ((double)input_tokens * price->input + (double)output_tokens * price->output +
                    (double)cache_read_tokens * price->cache_read + (double)cache_write_tokens * price->cache_write) /
                   1000000.0;
    const char *shown = self->label_provider != NULL ? self->label_provider : price->provider;
    self->attributes[count++] = (usagectx_label){"provider", shown};
    self->attributes[count++] = (usagectx_label){"pricedAs", price->model};
  }
  output->attributes = count > 0 ? self->attributes : NULL;
  output->attribute_count = count;
  return USAGECTX_OK;
}

static const usagectx_plugin plugin = {
  .abi_version = USAGECTX_PLUGIN_ABI_VERSION,
  .struct_size = sizeof(usagectx_plugin),
  .name = "tokens",
  .version = TOKENS_PLUGIN_VERSION,
  .create = create,
  .destroy = destroy,
  .metric_count = metric_count,
  .metric = metric,
  .measure = measure,
  .fetch = NULL,
  .release = ups_release,
};

UPS_EXPORT const usagectx_plugin *usagectx_plugin_entry(uint32_t host_abi_version) {
  return host_abi_version >= 1 ? &plugin : NULL;
}
