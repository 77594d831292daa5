/*
 * auth.c - the keyring that authenticates frames.
 *
 * Owns: loading 32-byte keys from a file of base64 lines. The first key
 * signs outgoing frames, every key verifies incoming ones, so a cluster
 * rotates keys without downtime: add the new key second everywhere, then
 * move it first everywhere, then drop the old one.
 *
 * Must never: keep a key in memory it did not parse completely, or report a
 * key's bytes in an error message.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

int vigil_keyring_add_base64(vigil_keyring *kr, const char *b64) {
  uint8_t key[VIGIL_KEY_BYTES + 1];
  size_t n = 0;
  const char *end = NULL;
  if (sodium_init() < 0) return VIGIL_ENOMEM;
  if (kr->nkeys >= VIGIL_KEYRING_MAX) return VIGIL_ERANGE;
  if (sodium_base642bin(key, sizeof key, b64, strlen(b64), " \t\r\n", &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      (end && *end) || n != VIGIL_KEY_BYTES) {
    sodium_memzero(key, sizeof key);
    return VIGIL_EINVAL;
  }
  memcpy(kr->keys[kr->nkeys++], key, VIGIL_KEY_BYTES);
  sodium_memzero(key, sizeof key);
  return VIGIL_OK;
}

int vigil_keyring_load(vigil_keyring *kr, const char *path, char *err, size_t errlen) {
  memset(kr, 0, sizeof *kr);
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open keyring", path);
    return VIGIL_EINVAL;
  }
  char line[256];
  int lineno = 0, rc = VIGIL_OK;
  while (rc == VIGIL_OK && fgets(line, sizeof line, f)) {
    lineno++;
    if (!strchr(line, '\n') && !feof(f)) {
      snprintf(err, errlen, "%s:%d: line too long for a key", path, lineno);
      rc = VIGIL_EINVAL;
      break;
    }
    char *s = line + strspn(line, " \t");
    if (*s == '#' || *s == '\n' || *s == '\r' || *s == '\0') continue;
    int added = vigil_keyring_add_base64(kr, s);
    if (added == VIGIL_ERANGE) {
      snprintf(err, errlen, "%s:%d: more than %d keys", path, lineno, VIGIL_KEYRING_MAX);
      rc = VIGIL_EINVAL;
    } else if (added != VIGIL_OK) {
      snprintf(err, errlen, "%s:%d: not a base64 32-byte key", path, lineno);
      rc = VIGIL_EINVAL;
    }
  }
  sodium_memzero(line, sizeof line);
  fclose(f);
  if (rc == VIGIL_OK && kr->nkeys == 0) {
    snprintf(err, errlen, "%s: no key in keyring", path);
    rc = VIGIL_EINVAL;
  }
  if (rc != VIGIL_OK) sodium_memzero(kr, sizeof *kr);
  return rc;
}
