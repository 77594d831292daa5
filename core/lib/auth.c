/*
 * auth.c - the keyring that authenticates frames.
 *
 * Owns: adding 32-byte keys given in base64 (reading them from a file is
 * the runtime's: core/runtime/keyfile.c). The first key
 * signs outgoing frames, every key verifies incoming ones, so a cluster
 * rotates keys without downtime: add the new key second everywhere, then
 * move it first everywhere, then drop the old one.
 *
 * Must never: keep a key in memory it did not parse completely, or report a
 * key's bytes in an error message.
 */
#include <sodium.h>
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
