/*
 * usagectx_plugin.h - the metric plugin interface of usagectx.
 *
 * A plugin is a shared library that exports one function, found with dlsym:
 *
 *     const usagectx_plugin *usagectx_plugin_entry(uint32_t host_abi_version);
 *
 * It returns a static description of the plugin (or NULL when it cannot work with that host). The host checks
 * `abi_version` and `struct_size`, then creates an instance with `create`, asks it for its metrics, and calls
 * `measure` on increments of metrics that declare a hook and `fetch` to read a metric's authoritative value.
 *
 * Rules that keep old plugins and old hosts working together:
 *  - This header is append-only. Every struct starts with its own size (`struct_size`); new fields are only ever
 *    added at the end, and a reader uses a field only when `struct_size` shows the writer knew it.
 *  - `abi_version` changes only for an incompatible change. A host refuses a plugin whose `abi_version` is newer
 *    than its own.
 *  - Memory the plugin returns (error strings) is released by the plugin's own `release`. Strings in descriptors
 *    stay valid until `destroy`. Everything the host passes in is valid only during the call.
 *  - Calls on one instance never overlap: the host serialises them. Plugins need no locking of their own.
 *  - Nothing crosses the boundary as JSON on the increment path: fields and labels are plain arrays.
 */
#ifndef USAGECTX_PLUGIN_H
#define USAGECTX_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI this header describes. */
#define USAGECTX_PLUGIN_ABI_VERSION 1u

/** The name of the entry function, for dlsym. */
#define USAGECTX_PLUGIN_ENTRY "usagectx_plugin_entry"

/** A limit value meaning "no limit". */
#define USAGECTX_UNLIMITED (-1)

/** Result codes of plugin calls. */
#define USAGECTX_OK 0
#define USAGECTX_ERROR 1

/** Log levels for `usagectx_host.log`. */
enum usagectx_log_level {
  USAGECTX_LOG_DEBUG = 0,
  USAGECTX_LOG_INFO = 1,
  USAGECTX_LOG_WARNING = 2,
  USAGECTX_LOG_ERROR = 3
};

/** Flags of `usagectx_metric.flags`. */
enum usagectx_metric_flags {
  /** The plugin's `measure` computes this metric's increments (amount, cost). */
  USAGECTX_METRIC_MEASURES = 1u << 0,
  /** The plugin's `fetch` reads this metric's authoritative value. */
  USAGECTX_METRIC_FETCHES = 1u << 1
};

/** What the host offers a plugin. */
typedef struct usagectx_host {
  uint32_t abi_version;
  uint32_t struct_size;
  /** Opaque; pass it back to the callbacks. */
  void *context;
  /** Writes a line to usagectx's log (stderr), attributed to the plugin. */
  void (*log)(void *context, int32_t level, const char *message);
  /* Version 1 ends here. */
} usagectx_host;

/** A key and a value, both UTF-8. */
typedef struct usagectx_label {
  const char *key;
  const char *value;
} usagectx_label;

/** One metric a plugin provides. */
typedef struct usagectx_metric {
  uint32_t struct_size;
  /** `usagectx_metric_flags`. */
  uint32_t flags;
  /** Unique name used on the wire, e.g. "documents". */
  const char *name;
  /** Unit shown with the numbers, e.g. "bytes". */
  const char *unit;
  /** "count", "bytes", "requests", "tokens", or a kind of the plugin's own. */
  const char *kind;
  /** Default limit per tier; USAGECTX_UNLIMITED for none. Configuration may override them. */
  int64_t limit_free;
  int64_t limit_pro;
  int64_t limit_ultra;
  /** "daily", "monthly" or "unlimited" (NULL means "unlimited"). Periods are UTC calendar days or months. */
  const char *period;
  /** Ratio of used to limit at which the level becomes "warning" / "exceeded"; 0 means 0.8 / 1.0. */
  double warning_ratio;
  double exceeded_ratio;
  /** Names of extra increment fields (non-negative integers), e.g. {"input", "output"}; NULL when none. */
  const char *const *fields;
  uint32_t field_count;
  uint32_t reserved0;
  /** A label whose value splits the metric into a breakdown (e.g. "model"); NULL when none. */
  const char *breakdown_label;
  /** Currency of the cost `measure` computes; NULL when the metric has no cost. */
  const char *currency;
  /* Version 1 ends here. */
} usagectx_metric;

/** What an increment carried, in the metric's declared terms. */
typedef struct usagectx_measure_input {
  uint32_t struct_size;
  uint32_t field_count;
  /** Values of the metric's fields, in declaration order (0 where not given). */
  const int64_t *fields;
  /** The increment's labels. */
  const usagectx_label *labels;
  uint32_t label_count;
  uint32_t reserved0;
  /* Version 1 ends here. */
} usagectx_measure_input;

/** What the plugin made of an increment. The host sets `struct_size` before the call. */
typedef struct usagectx_measure_output {
  uint32_t struct_size;
  /** Non-zero when the cost is known; zero when it is not (counted at zero cost and flagged). */
  int32_t priced;
  /** How much the metric's used value grows. */
  int64_t amount;
  /** The increment's cost, in the metric's currency. */
  double cost;
  /** Facts to show with the breakdown entry (e.g. provider); owned by the plugin, valid until its next call. */
  const usagectx_label *attributes;
  uint32_t attribute_count;
  uint32_t reserved0;
  /* Version 1 ends here. */
} usagectx_measure_output;

/** A plugin, as returned by its entry function. */
typedef struct usagectx_plugin {
  /** USAGECTX_PLUGIN_ABI_VERSION the plugin was built against. */
  uint32_t abi_version;
  /** sizeof(usagectx_plugin) as the plugin knows it. */
  uint32_t struct_size;
  /** The plugin's name and version, e.g. "tokens", "1.0.0". */
  const char *name;
  const char *version;

  /**
   * Creates an instance. `options_json` is the plugin's own section of the configuration as JSON text ("null" when
   * there is none). Returns NULL on failure and sets `*error` to a message the host frees with `release`.
   */
  void *(*create)(const usagectx_host *host, const char *options_json, char **error);

  /** Releases an instance and everything it handed out. */
  void (*destroy)(void *instance);

  /** Number of metrics the instance provides. */
  uint32_t (*metric_count)(void *instance);

  /** The metric at `index` (0 ..< metric_count); valid until `destroy`. */
  const usagectx_metric *(*metric)(void *instance, uint32_t index);

  /**
   * Measures an increment of the metric at `index` (only for metrics flagged USAGECTX_METRIC_MEASURES; may be NULL
   * when none is). Returns USAGECTX_OK, or USAGECTX_ERROR to refuse the increment.
   */
  int32_t (*measure)(void *instance, uint32_t index, const usagectx_measure_input *input,
                     usagectx_measure_output *output);

  /**
   * Reads the authoritative value of the metric at `index` (only for metrics flagged USAGECTX_METRIC_FETCHES; may
   * be NULL when none is). Returns USAGECTX_OK with `*value` set, or USAGECTX_ERROR with `*error` set to a message
   * the host frees with `release`.
   */
  int32_t (*fetch)(void *instance, uint32_t index, int64_t *value, char **error);

  /** Frees memory the plugin returned (error messages). `instance` may be NULL for errors from `create`. */
  void (*release)(void *instance, void *memory);
  /* Version 1 ends here. */
} usagectx_plugin;

/** The entry function every plugin exports. */
typedef const usagectx_plugin *(*usagectx_plugin_entry_fn)(uint32_t host_abi_version);

#ifdef __cplusplus
}
#endif

#endif /* USAGECTX_PLUGIN_H */
