/*
 * prices.h - the token price table of usagectx's tokens plugin and the rule that matches a model's name to a listed
 * one. Prices are per million tokens.
 */
#ifndef USAGECTX_TOKENS_PRICES_H
#define USAGECTX_TOKENS_PRICES_H

#include <stdbool.h>
#include <stddef.h>

#include "plugin_support.h"

/** When the shipped prices were last checked. */
#define TOKENS_PRICES_AS_OF "2025-11"
/** The currency of the shipped prices. */
#define TOKENS_PRICES_CURRENCY "USD"

/** One model's prices. In a table, `model` is lowercase. */
typedef struct tokens_price {
  const char *model;
  const char *provider;
  /** Per million input (prompt) tokens. */
  double input;
  /** Per million output (completion) tokens. */
  double output;
  /** Per million input tokens read from the provider's prompt cache. */
  double cache_read;
  /** Per million input tokens written to the provider's prompt cache. */
  double cache_write;
} tokens_price;

/** The table shipped with usagectx (US dollars): the widely used OpenAI, Anthropic and Google models at their
 *  published standard (non-batch, base context) prices, with their prompt-cache reads and writes. */
UPS_HIDDEN extern const tokens_price tokens_standard_prices[];
UPS_HIDDEN extern const size_t tokens_standard_price_count;

/**
 * True for what providers append to a model's name to name a snapshot of the same model: a date or build number
 * (`2024-08-06`, `20250929`, `002`), optionally with `latest`, `preview` or `exp` (any ASCII case). `suffix` is
 * `length` bytes.
 */
UPS_HIDDEN bool tokens_is_version_suffix(const char *suffix, size_t length);

/**
 * The entry of `table` (`count` entries, lowercase names) that prices `model`, or NULL when none does. Matching is
 * ASCII case-insensitive and ignores everything up to the last '/'; an exact name wins, else the longest listed
 * name the model extends with '-', '@' or ':' and a version suffix.
 */
UPS_HIDDEN const tokens_price *tokens_match(const tokens_price *table, size_t count, const char *model);

#endif /* USAGECTX_TOKENS_PRICES_H */
