/*
 * prices.c - the shipped token price table (as of TOKENS_PRICES_AS_OF) and the matching of model names against a
 * table. Each row: model, provider, then per million tokens the input, output, cache-read and cache-write prices
 * (Anthropic: reads 0.1 and writes 1.25 times input; OpenAI: the published cached-input price, writes as input;
 * Google: reads 0.25 times input, writes as input). Changing a price here changes what usagectx charges; protocol/usagectx.openrpc.json lists the same table
 * under `x-priceTable`, and the protocol tests check that the two agree.
 */
#include "prices.h"

#include <string.h>

const tokens_price tokens_standard_prices[] = {
  // OpenAI
  {"gpt-5", "openai", 1.25, 10.00, 0.125, 1.25},
  {"gpt-5-codex", "openai", 1.25, 10.00, 0.125, 1.25},
  {"gpt-5-mini", "openai", 0.25, 2.00, 0.025, 0.25},
  {"gpt-5-nano", "openai", 0.05, 0.40, 0.005, 0.05},
  {"gpt-4.1", "openai", 2.00, 8.00, 0.50, 2.00},
  {"gpt-4.1-mini", "openai", 0.40, 1.60, 0.10, 0.40},
  {"gpt-4.1-nano", "openai", 0.10, 0.40, 0.025, 0.10},
  {"gpt-4o", "openai", 2.50, 10.00, 1.25, 2.50},
  {"gpt-4o-mini", "openai", 0.15, 0.60, 0.075, 0.15},
  {"gpt-4-turbo", "openai", 10.00, 30.00, 10.00, 10.00},
  {"gpt-4", "openai", 30.00, 60.00, 30.00, 30.00},
  {"gpt-3.5-turbo", "openai", 0.50, 1.50, 0.50, 0.50},
  {"o1", "openai", 15.00, 60.00, 7.50, 15.00},
  {"o1-mini", "openai", 1.10, 4.40, 0.55, 1.10},
  {"o3", "openai", 2.00, 8.00, 0.50, 2.00},
  {"o3-mini", "openai", 1.10, 4.40, 0.55, 1.10},
  {"o4-mini", "openai", 1.10, 4.40, 0.275, 1.10},
  // Anthropic
  {"claude-opus-4-5", "anthropic", 5.00, 25.00, 0.50, 6.25},
  {"claude-opus-4-1", "anthropic", 15.00, 75.00, 1.50, 18.75},
  {"claude-opus-4", "anthropic", 15.00, 75.00, 1.50, 18.75},
  {"claude-sonnet-4-5", "anthropic", 3.00, 15.00, 0.30, 3.75},
  {"claude-sonnet-4", "anthropic", 3.00, 15.00, 0.30, 3.75},
  {"claude-haiku-4-5", "anthropic", 1.00, 5.00, 0.10, 1.25},
  {"claude-3-7-sonnet", "anthropic", 3.00, 15.00, 0.30, 3.75},
  {"claude-3-5-sonnet", "anthropic", 3.00, 15.00, 0.30, 3.75},
  {"claude-3-5-haiku", "anthropic", 0.80, 4.00, 0.08, 1.00},
  {"claude-3-opus", "anthropic", 15.00, 75.00, 1.50, 18.75},
  {"claude-3-haiku", "anthropic", 0.25, 1.25, 0.025, 0.3125},
  // Google
  {"gemini-2.5-pro", "google", 1.25, 10.00, 0.3125, 1.25},
  {"gemini-2.5-flash", "google", 0.30, 2.50, 0.075, 0.30},
  {"gemini-2.5-flash-lite", "google", 0.10, 0.40, 0.025, 0.10},
  {"gemini-2.0-flash", "google", 0.10, 0.40, 0.025, 0.10},
  {"gemini-2.0-flash-lite", "google", 0.075, 0.30, 0.01875, 0.075},
  {"gemini-1.5-pro", "google", 1.25, 5.00, 0.3125, 1.25},
  {"gemini-1.5-flash", "google", 0.075, 0.30, 0.01875, 0.075},
};

const size_t tokens_standard_price_count = sizeof tokens_standard_prices / sizeof tokens_standard_prices[0];

/* ASCII only, and independent of the process's locale (which the host may have set). */
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Compares `length` bytes of `text` (any case) with the lowercase `listed`. */
static bool equal_folded(const char *text, const char *listed, size_t length) {
  for (size_t index = 0; index < length; index++) {
    if (lower(text[index]) != listed[index]) return false;
  }
  return true;
}

static bool is_word(const char *part, size_t length) {
  static const char *const words[] = {"latest", "preview", "exp"};
  for (size_t index = 0; index < sizeof words / sizeof words[0]; index++) {
    if (strlen(words[index]) == length && equal_folded(part, words[index], length)) return true;
  }
  return false;
}

bool tokens_is_version_suffix(const char *suffix, size_t length) {
  // Parts are split on '-' keeping empty ones, so "", "2024--08" and a trailing '-' are refused.
  size_t digits = 0;
  bool named = false;
  size_t start = 0;
  for (;;) {
    size_t end = start;
    while (end < length && suffix[end] != '-') end++;
    size_t part_length = end - start;
    const char *part = suffix + start;
    if (is_word(part, part_length)) {
      named = true;
    } else {
      if (part_length == 0) return false;
      for (size_t index = 0; index < part_length; index++) {
        if (part[index] < '0' || part[index] > '9') return false;
      }
      digits += part_length;
    }
    if (end == length) break;
    start = end + 1;
  }
  // A lone short number is more likely another model's version (claude-opus-4-7) than a snapshot.
  return named || digits >= 3;
}

const tokens_price *tokens_match(const tokens_price *table, size_t count, const char *model) {
  const char *slash = strrchr(model, '/');
  const char *name = slash != NULL ? slash + 1 : model;
  size_t length = strlen(name);
  for (size_t index = 0; index < count; index++) {
    if (strlen(table[index].model) == length && equal_folded(name, table[index].model, length)) {
      return &table[index];
    }
  }
  const tokens_price *best = NULL;
  size_t best_length = 0;
  for (size_t index = 0; index < count; index++) {
    size_t listed = strlen(table[index].model);
    if (listed >= length || listed <= best_length || !equal_folded(name, table[index].model, listed)) continue;
    char boundary = name[listed];
    if (boundary != '-' && boundary != '@' && boundary != ':') continue;
    if (!tokens_is_version_suffix(name + listed + 1, length - listed - 1)) continue;
    best = &table[index];
    best_length = listed;
  }
  return best;
}
