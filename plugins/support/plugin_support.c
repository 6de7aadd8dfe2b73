/*
 * plugin_support.c - helpers shared by the standard metric plugins: error strings, host logging, option parsing and
 * the directory scan of the documents and storage metrics. See include/plugin_support.h.
 */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include "plugin_support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usagectx_plugin.h"

/* ---- Error strings and logging ---- */

__attribute__((format(printf, 1, 0))) static char *format_message(const char *format, va_list arguments) {
  va_list copy;
  va_copy(copy, arguments);
  int length = vsnprintf(NULL, 0, format, copy);
  va_end(copy);
  if (length < 0) return NULL;
  char *message = malloc((size_t)length + 1);
  if (message != NULL) vsnprintf(message, (size_t)length + 1, format, arguments);
  return message;
}

int32_t ups_fail(char **error, const char *format, ...) {
  if (error != NULL) {
    va_list arguments;
    va_start(arguments, format);
    *error = format_message(format, arguments);
    va_end(arguments);
  }
  return USAGECTX_ERROR;
}

void ups_release(void *instance, void *memory) {
  (void)instance;
  free(memory);
}

void ups_log(const struct usagectx_host *host, int32_t level, const char *format, ...) {
  if (host == NULL || !UPS_HAS_FIELD(host, usagectx_host, log) || host->log == NULL) return;
  char line[1024];
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(line, sizeof line, format, arguments);
  va_end(arguments);
  host->log(host->context, level, line);
}

/* ---- Options ---- */

int ups_parse_options(const char *plugin, const char *options_json, json_t **options, char **error) {
  *options = NULL;
  if (options_json == NULL) return 0;
  json_error_t parse_error;
  json_t *root = json_loads(options_json, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &parse_error);
  if (root == NULL) {
    return ups_fail(error, "config.plugins.%s: is not valid JSON (line %d, column %d: %s)", plugin,
                    parse_error.line, parse_error.column, parse_error.text);
  }
  if (json_is_null(root)) {
    json_decref(root);
    return 0;
  }
  if (!json_is_object(root)) {
    json_decref(root);
    return ups_fail(error, "config.plugins.%s: must be an object", plugin);
  }
  *options = root;
  return 0;
}

int ups_expect_no_options(const char *plugin, const char *options_json, char **error) {
  json_t *options;
  if (ups_parse_options(plugin, options_json, &options, error) != 0) return USAGECTX_ERROR;
  int status = 0;
  const char *key;
  json_t *value;
  json_object_foreach(options, key, value) {
    (void)value;
    status = ups_fail(error, "config.plugins.%s.%s: is not a known setting", plugin, key);
    break;
  }
  json_decref(options);
  return status;
}

/* ---- Scan settings ---- */

void ups_scan_config_free(ups_scan_config *config) {
  free(config->directory);
  for (size_t index = 0; index < config->pattern_count; index++) free(config->patterns[index]);
  free(config->patterns);
  memset(config, 0, sizeof *config);
}

static int parse_patterns(ups_scan_config *config, const char *plugin, json_t *value, char **error) {
  size_t count = json_is_array(value) ? json_array_size(value) : 0;
  if (count == 0) {
    return ups_fail(error, "config.plugins.%s.patterns: must be a non-empty array of file name patterns", plugin);
  }
  config->patterns = calloc(count, sizeof *config->patterns);
  if (config->patterns == NULL) return ups_fail(error, "config.plugins.%s.patterns: out of memory", plugin);
  for (size_t index = 0; index < count; index++) {
    const char *pattern = json_string_value(json_array_get(value, index));
    // Patterns match a base name, so a '/' could never match: refusing it points at the mistake.
    if (pattern == NULL || pattern[0] == '\0' || strchr(pattern, '/') != NULL) {
      return ups_fail(error, "config.plugins.%s.patterns[%zu]: must be a file name pattern (a non-empty string "
                      "without '/')", plugin, index);
    }
    config->patterns[index] = strdup(pattern);
    if (config->patterns[index] == NULL) return ups_fail(error, "config.plugins.%s.patterns: out of memory", plugin);
    config->pattern_count = index + 1;
  }
  return 0;
}

int ups_scan_config_parse(ups_scan_config *config, const char *plugin, json_t *options, char **error) {
  memset(config, 0, sizeof *config);
  config->recursive = true;
  if (options == NULL) return 0;
  const char *first_without_directory = NULL;
  const char *key;
  json_t *value;
  json_object_foreach(options, key, value) {
    if (strcmp(key, "directory") == 0) {
      const char *directory = json_string_value(value);
      if (directory == NULL || directory[0] != '/') {
        // Relative paths would depend on the directory usagectx happens to be started in.
        return ups_fail(error, "config.plugins.%s.directory: must be an absolute path", plugin);
      }
      config->directory = strdup(directory);
      if (config->directory == NULL) return ups_fail(error, "config.plugins.%s.directory: out of memory", plugin);
      continue;
    }
    bool *flag = NULL;
    if (strcmp(key, "recursive") == 0) {
      flag = &config->recursive;
    } else if (strcmp(key, "followSymlinks") == 0) {
      flag = &config->follow_symlinks;
    } else if (strcmp(key, "includeHidden") == 0) {
      flag = &config->include_hidden;
    } else if (strcmp(key, "patterns") == 0) {
      if (parse_patterns(config, plugin, value, error) != 0) return USAGECTX_ERROR;
    } else {
      return ups_fail(error, "config.plugins.%s.%s: is not a known setting", plugin, key);
    }
    if (flag != NULL) {
      if (!json_is_boolean(value)) return ups_fail(error, "config.plugins.%s.%s: must be true or false", plugin, key);
      *flag = json_is_true(value);
    }
    if (first_without_directory == NULL) first_without_directory = key;
  }
  if (config->directory == NULL && first_without_directory != NULL) {
    return ups_fail(error, "config.plugins.%s.%s: needs a directory (config.plugins.%s.directory)", plugin,
                    first_without_directory, plugin);
  }
  return 0;
}

void ups_scan_describe(const ups_scan_config *config, char *buffer, size_t size) {
  if (size == 0) return;
  if (config->directory == NULL) {
    snprintf(buffer, size, "no directory configured");
    return;
  }
  size_t used = 0;
  // snprintf returns what it would have written; clamp so a cut description stays terminated and in bounds.
#define APPEND(...)                                                   \
  do {                                                                \
    int written = snprintf(buffer + used, size - used, __VA_ARGS__); \
    if (written > 0) used += (size_t)written;                         \
    if (used >= size) used = size - 1;                                \
  } while (0)
  APPEND("%s (", config->directory);
  if (config->pattern_count == 0) APPEND("all files");
  for (size_t index = 0; index < config->pattern_count; index++) {
    APPEND("%s%s", index == 0 ? "" : ", ", config->patterns[index]);
  }
  APPEND("; %s", config->recursive ? "recursive" : "top level only");
  if (config->follow_symlinks) APPEND("; following links");
  if (config->include_hidden) APPEND("; including hidden");
  APPEND(")");
#undef APPEND
}

/* ---- Directory scan ---- */

/* A directory on the path from the configured one down to the one being read, to recognise a link (or a bind
 * mount) leading back to an enclosing directory. */
typedef struct scan_ancestor {
  dev_t device;
  ino_t inode;
} scan_ancestor;

typedef struct scan_state {
  const ups_scan_config *config;
  ups_scan_result *result;
  char **error;
  /* Path of the directory being read, for messages; grows as the scan descends. */
  char *path;
  size_t path_length;
  size_t path_capacity;
  size_t entries;
  /* Directories open right now: ancestors[0] is the configured one, ancestors[depth - 1] the one being read. */
  size_t depth;
  scan_ancestor ancestors[UPS_SCAN_MAX_DEPTH + 1];
} scan_state;

/* What goes between `state->path` and an entry's name: nothing when the path already ends in '/' (as "/" does). */
static const char *separator(const scan_state *state) {
  return state->path_length > 0 && state->path[state->path_length - 1] == '/' ? "" : "/";
}

static bool path_push(scan_state *state, const char *name) {
  size_t name_length = strlen(name);
  bool needs_separator = state->path_length > 0 && state->path[state->path_length - 1] != '/';
  size_t needed = state->path_length + (needs_separator ? 1 : 0) + name_length + 1;
  if (needed > state->path_capacity) {
    size_t capacity = state->path_capacity * 2 > needed ? state->path_capacity * 2 : needed;
    char *grown = realloc(state->path, capacity);
    if (grown == NULL) return false;
    state->path = grown;
    state->path_capacity = capacity;
  }
  if (needs_separator) state->path[state->path_length++] = '/';
  memcpy(state->path + state->path_length, name, name_length + 1);
  state->path_length += name_length;
  return true;
}

/* Removes the last component pushed; `length` is the path's length before it was pushed. */
static void path_pop(scan_state *state, size_t length) {
  state->path_length = length;
  state->path[length] = '\0';
}

static bool is_ancestor(const scan_state *state, const struct stat *status) {
  for (size_t index = 0; index < state->depth; index++) {
    if (state->ancestors[index].device == status->st_dev && state->ancestors[index].inode == status->st_ino) {
      return true;
    }
  }
  return false;
}

static bool name_matches(const ups_scan_config *config, const char *name) {
  if (config->pattern_count == 0) return true;
  for (size_t index = 0; index < config->pattern_count; index++) {
    if (fnmatch(config->patterns[index], name, 0) == 0) return true;
  }
  return false;
}

static void count_file(ups_scan_result *result, const struct stat *status) {
  if (result->files < INT64_MAX) result->files++;
  int64_t size = status->st_size > 0 ? (int64_t)status->st_size : 0;
  result->bytes = result->bytes > INT64_MAX - size ? INT64_MAX : result->bytes + size;
}

static int scan_directory(scan_state *state, int descriptor);

/* Looks at one entry of the directory open as `parent`; `state->path` names that directory. */
static int scan_entry(scan_state *state, int parent, const char *name) {
  const ups_scan_config *config = state->config;
  struct stat status;
  int flags = config->follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW;
  if (fstatat(parent, name, &status, flags) != 0) {
    // Gone since readdir, or (when following links) a dangling link or a chain of links that never ends.
    if (errno == ENOENT || (config->follow_symlinks && errno == ELOOP)) return 0;
    int failure = errno;
    return ups_fail(state->error, "cannot examine %s%s%s: %s", state->path, separator(state), name,
                    strerror(failure));
  }
  if (S_ISREG(status.st_mode)) {
    if (name_matches(config, name)) count_file(state->result, &status);
    return 0;
  }
  // Links are only ever seen here as links when not followed; devices, sockets and pipes are not files.
  if (!S_ISDIR(status.st_mode) || !config->recursive) return 0;
  if (is_ancestor(state, &status)) return 0;
  // The child would sit `depth` levels below the configured directory.
  if (state->depth > UPS_SCAN_MAX_DEPTH) {
    return ups_fail(state->error, "%s%s%s: directories nest deeper than %d levels; the scan was stopped",
                    state->path, separator(state), name, UPS_SCAN_MAX_DEPTH);
  }
  int open_flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (config->follow_symlinks ? 0 : O_NOFOLLOW);
  int child = openat(parent, name, open_flags);
  if (child < 0) {
    if (errno == ENOENT) return 0;
    int failure = errno;
    return ups_fail(state->error, "cannot open directory %s%s%s: %s", state->path, separator(state), name,
                    strerror(failure));
  }
  size_t length = state->path_length;
  if (!path_push(state, name)) {
    close(child);
    return ups_fail(state->error, "out of memory while scanning %s", state->path);
  }
  int result = scan_directory(state, child);
  path_pop(state, length);
  return result;
}

/* Reads the directory open as `descriptor` (taking it over) and everything below it. */
static int scan_directory(scan_state *state, int descriptor) {
  // Identify the directory by what was opened, not by what was examined before, so a swap in between cannot
  // slip a loop past the ancestor check.
  struct stat status;
  if (fstat(descriptor, &status) != 0) {
    int failure = errno;
    close(descriptor);
    return ups_fail(state->error, "cannot examine directory %s: %s", state->path, strerror(failure));
  }
  if (is_ancestor(state, &status)) {
    close(descriptor);
    return 0;
  }
  DIR *directory = fdopendir(descriptor);
  if (directory == NULL) {
    int failure = errno;
    close(descriptor);
    return ups_fail(state->error, "cannot read directory %s: %s", state->path, strerror(failure));
  }
  state->ancestors[state->depth++] = (scan_ancestor){status.st_dev, status.st_ino};
  int result = 0;
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(directory);
    if (entry == NULL) {
      if (errno != 0) {
        int failure = errno;
        result = ups_fail(state->error, "cannot read directory %s: %s", state->path, strerror(failure));
      }
      break;
    }
    const char *name = entry->d_name;
    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
    // Every entry counts towards the bound, hidden or not, so that no directory makes the scan run unbounded.
    if (++state->entries > UPS_SCAN_MAX_ENTRIES) {
      result = ups_fail(state->error, "%s: more than %d entries; the scan was stopped", state->config->directory,
                        UPS_SCAN_MAX_ENTRIES);
      break;
    }
    if (name[0] == '.' && !state->config->include_hidden) continue;
    result = scan_entry(state, dirfd(directory), name);
    if (result != 0) break;
  }
  state->depth--;
  closedir(directory);
  return result;
}

int ups_scan(const ups_scan_config *config, ups_scan_result *result, char **error) {
  result->files = 0;
  result->bytes = 0;
  if (config->directory == NULL) return ups_fail(error, "no directory configured");
  // The configured directory is opened following links: naming a link to a directory there is deliberate.
  int descriptor = open(config->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (descriptor < 0) {
    int failure = errno;
    return ups_fail(error, "cannot open directory %s: %s", config->directory, strerror(failure));
  }
  scan_state *state = calloc(1, sizeof *state);
  if (state == NULL) {
    close(descriptor);
    return ups_fail(error, "out of memory while scanning %s", config->directory);
  }
  state->config = config;
  state->result = result;
  state->error = error;
  int status = 0;
  if (!path_push(state, config->directory)) {
    close(descriptor);
    status = ups_fail(error, "out of memory while scanning %s", config->directory);
  } else {
    status = scan_directory(state, descriptor);
  }
  free(state->path);
  free(state);
  if (status != 0) {
    result->files = 0;
    result->bytes = 0;
  }
  return status;
}

/* ---- Scan plugins ---- */

void *ups_scan_plugin_create(const char *plugin, const char *version, usagectx_metric metric,
                             const usagectx_host *host, const char *options_json, char **error) {
  if (error != NULL) *error = NULL;
  json_t *options;
  if (ups_parse_options(plugin, options_json, &options, error) != 0) return NULL;
  ups_scan_plugin *self = calloc(1, sizeof *self);
  if (self == NULL) {
    json_decref(options);
    ups_fail(error, "config.plugins.%s: out of memory", plugin);
    return NULL;
  }
  int status = ups_scan_config_parse(&self->scan, plugin, options, error);
  json_decref(options);
  if (status != 0) {
    ups_scan_plugin_destroy(self);
    return NULL;
  }
  self->metric = metric;
  self->metric.struct_size = sizeof(usagectx_metric);
  self->metric.flags = self->scan.directory != NULL ? USAGECTX_METRIC_FETCHES : 0;
  char described[512];
  ups_scan_describe(&self->scan, described, sizeof described);
  ups_log(host, USAGECTX_LOG_DEBUG, "version %s, files: %s", version, described);
  return self;
}

void ups_scan_plugin_destroy(void *instance) {
  ups_scan_plugin *self = instance;
  if (self == NULL) return;
  ups_scan_config_free(&self->scan);
  free(self);
}

uint32_t ups_scan_plugin_metric_count(void *instance) {
  (void)instance;
  return 1;
}

const usagectx_metric *ups_scan_plugin_metric(void *instance, uint32_t index) {
  ups_scan_plugin *self = instance;
  return index == 0 ? &self->metric : NULL;
}

int32_t ups_scan_plugin_fetch(void *instance, uint32_t index, int64_t *value, char **error,
                              ups_scan_measure measure) {
  ups_scan_plugin *self = instance;
  if (error != NULL) *error = NULL;
  if (index != 0 || value == NULL) return ups_fail(error, "%s has no metric at index %u", self->metric.name, index);
  ups_scan_result found;
  if (ups_scan(&self->scan, &found, error) != 0) return USAGECTX_ERROR;
  *value = measure == UPS_SCAN_FILES ? found.files : found.bytes;
  return USAGECTX_OK;
}
