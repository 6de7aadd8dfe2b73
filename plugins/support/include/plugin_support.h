/*
 * plugin_support.h - helpers shared by the standard metric plugins of usagectx (documents, storage, requests,
 * tokens): error strings, logging through the host, option parsing with Jansson, and the bounded directory scan
 * behind the documents and storage metrics.
 *
 * The support code is linked statically into each plugin library. Every declaration here has hidden visibility, so
 * a plugin exports nothing but its entry function and two plugins loaded into one process never share or interpose
 * these symbols.
 */
#ifndef USAGECTX_PLUGIN_SUPPORT_H
#define USAGECTX_PLUGIN_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "usagectx_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a function internal to the plugin library. */
#define UPS_HIDDEN __attribute__((visibility("hidden")))
/** Marks the one function a plugin library exports (its entry), whatever the default visibility of the build. */
#define UPS_EXPORT __attribute__((visibility("default")))

/**
 * True when a struct that starts with `struct_size` is large enough to hold `field`: the way a reader checks that the
 * writer knew a field (see the rules in usagectx_plugin.h).
 */
#define UPS_HAS_FIELD(pointer, type, field) \
  ((pointer)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

struct usagectx_host;

/* ---- Error strings and logging ---- */

/**
 * Stores a message formatted like printf in `*error` (when `error` is not NULL), in memory of its own (malloc) for
 * the host to hand back to `release`. Always returns USAGECTX_ERROR. The message is NULL only when memory runs out;
 * the call still reports failure then.
 */
UPS_HIDDEN int32_t ups_fail(char **error, const char *format, ...) __attribute__((format(printf, 2, 3)));

/** The `release` function of every standard plugin: frees what `ups_fail` made. */
UPS_HIDDEN void ups_release(void *instance, void *memory);

/**
 * Writes a formatted line to the host's log, when the host offers a log callback (checked through its
 * `struct_size`). Lines longer than 1 KiB are cut.
 */
UPS_HIDDEN void ups_log(const struct usagectx_host *host, int32_t level, const char *format, ...)
  __attribute__((format(printf, 3, 4)));

/* ---- Options ---- */

/**
 * Parses a plugin's options. On success returns 0 and sets `*options` to a JSON object the caller releases with
 * json_decref, or to NULL when the options are `null` (use the defaults); `options_json` NULL counts as `null`.
 * Anything else than an object or null fails with "config.plugins.<plugin>: must be an object". Integers are read
 * as reals, so a price like 3 is as good as 3.0 and no integer can overflow.
 */
UPS_HIDDEN int ups_parse_options(const char *plugin, const char *options_json, json_t **options, char **error);

/** For plugins without options: accepts `null` and `{}`, and names the first setting otherwise. */
UPS_HIDDEN int ups_expect_no_options(const char *plugin, const char *options_json, char **error);

/* ---- Directory scan ---- */

/** The scan stops with an error once it has looked at more entries than this (files, directories, anything). */
#define UPS_SCAN_MAX_ENTRIES 1000000
/** ... or once directories nest deeper than this below the configured one (each level holds a descriptor). */
#define UPS_SCAN_MAX_DEPTH 256

/** What to scan, as configured by `directory`, `patterns`, `recursive`, `followSymlinks` and `includeHidden`. */
typedef struct ups_scan_config {
  /** Absolute path of the directory; NULL when none is configured. */
  char *directory;
  /** fnmatch patterns matched against a file's base name; none (count 0) means every regular file. */
  char **patterns;
  size_t pattern_count;
  /** Descend into subdirectories (default true). */
  bool recursive;
  /** Follow symbolic links to files and directories (default false). The configured directory itself is always
   *  followed when it is a link. */
  bool follow_symlinks;
  /** Look at names starting with a dot (default false). */
  bool include_hidden;
} ups_scan_config;

/** What a scan found: matching regular files and the sum of their sizes (saturating at INT64_MAX). */
typedef struct ups_scan_result {
  int64_t files;
  int64_t bytes;
} ups_scan_result;

/**
 * Reads the scan settings from `options` (an object, or NULL for defaults) into `config`, which the caller then
 * owns and frees with `ups_scan_config_free` (also after a failure). Every member of `options` must be one of the
 * scan settings; the others need `directory`. Returns 0, or USAGECTX_ERROR with a message naming the setting.
 */
UPS_HIDDEN int ups_scan_config_parse(ups_scan_config *config, const char *plugin, json_t *options, char **error);

/** Frees what `ups_scan_config_parse` allocated and clears `config`. */
UPS_HIDDEN void ups_scan_config_free(ups_scan_config *config);

/**
 * Scans the configured directory. Returns 0 with `*result` set, or USAGECTX_ERROR with a message naming the path
 * that could not be read (and why) or the bound that was passed. Entries that vanish during the scan and dangling
 * links are skipped; anything else unreadable fails the scan rather than under-count.
 */
UPS_HIDDEN int ups_scan(const ups_scan_config *config, ups_scan_result *result, char **error);

/** A one-line description of the scan settings for the log, e.g. "/srv/docs (*.md, *.txt; recursive)", into
 *  `buffer` (always terminated). */
UPS_HIDDEN void ups_scan_describe(const ups_scan_config *config, char *buffer, size_t size);

/* ---- A plugin whose one metric has a directory scan as its source (documents, storage) ---- */

/** What a scan plugin's fetch answers with. */
typedef enum ups_scan_measure { UPS_SCAN_FILES, UPS_SCAN_BYTES } ups_scan_measure;

/** An instance of a scan plugin: its scan settings and its metric (`flags` says whether it fetches). */
typedef struct ups_scan_plugin {
  ups_scan_config scan;
  usagectx_metric metric;
} ups_scan_plugin;

/**
 * Creates a scan plugin instance for `plugin` (its name, for errors and options): parses the scan options and
 * describes `metric`, which gets USAGECTX_METRIC_FETCHES when a directory is configured. The plugin's own `create`
 * calls this with its metric; `destroy`, `metric_count` and `metric` can be the functions below directly.
 */
UPS_HIDDEN void *ups_scan_plugin_create(const char *plugin, const char *version, usagectx_metric metric,
                                        const usagectx_host *host, const char *options_json, char **error);
UPS_HIDDEN void ups_scan_plugin_destroy(void *instance);
UPS_HIDDEN uint32_t ups_scan_plugin_metric_count(void *instance);
UPS_HIDDEN const usagectx_metric *ups_scan_plugin_metric(void *instance, uint32_t index);

/** Scans and answers with the number of matching files or the sum of their sizes. */
UPS_HIDDEN int32_t ups_scan_plugin_fetch(void *instance, uint32_t index, int64_t *value, char **error,
                                         ups_scan_measure measure);

#ifdef __cplusplus
}
#endif

#endif /* USAGECTX_PLUGIN_SUPPORT_H */
