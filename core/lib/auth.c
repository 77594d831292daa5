/*
 * auth.c - the keyring that seals frames.
 *
 * Owns: keys -- decoding them from base64, their fingerprints and hints,
 * and the keyring's changes: install (a key that opens frames), use (make
 * it the primary, the one that seals), remove. Reading and writing the
 * keyring file is the runtime's (core/runtime/keyfile.c); sealing and
 * opening frames is frame.c's. The primary seals outgoing frames, every
 * key opens incoming ones, so a cluster rotates keys without downtime:
 * install the new key everywhere, then use it everywhere, then remove the
 * old one everywhere.
 *
 * A key's fingerprint is the first 4 bytes of BLAKE2b-256 of its 32 bytes,
 * in hex: what `vigil keys list` shows, so an operator can match a key
 * file to a running agent (b2sum -l 256 computes the same) without the
 * key ever leaving the file. Its first byte is the key's hint, sent with
 * every sealed frame: the receiver tries the keys with that hint first.
 * A hint is a shortcut, never a proof -- frame.c tries every key when the
 * hinted ones fail, and only the AEAD tag decides.
 *
 * Must never: keep a key in memory it did not parse completely, or report a
 * key's bytes in an error message.
 */
#include <sodium.h>
#include <string.h>

#include "internal.h"

static void auth__fingerprint(const uint8_t key[VIGIL_KEY_BYTES], uint8_t out[crypto_generichash_BYTES]) {
  crypto_generichash(out, crypto_generichash_BYTES, key, VIGIL_KEY_BYTES, NULL, 0);
}

void vigil_key_fingerprint(const uint8_t key[VIGIL_KEY_BYTES], char out[VIGIL_KEY_FINGERPRINT]) {
  uint8_t h[crypto_generichash_BYTES];
  auth__fingerprint(key, h);
  sodium_bin2hex(out, VIGIL_KEY_FINGERPRINT, h, (VIGIL_KEY_FINGERPRINT - 1) / 2);
}

int vigil_key_from_base64(const char *b64, uint8_t key[VIGIL_KEY_BYTES]) {
  uint8_t buf[VIGIL_KEY_BYTES + 1];
  size_t n = 0;
  const char *end = NULL;
  if (sodium_init() < 0) return VIGIL_ENOMEM;
  int rc = VIGIL_EINVAL;
  if (sodium_base642bin(buf, sizeof buf, b64, strlen(b64), " \t\r\n", &n, &end, sodium_base64_VARIANT_ORIGINAL) == 0 &&
      !(end && *end) && n == VIGIL_KEY_BYTES) {
    memcpy(key, buf, VIGIL_KEY_BYTES);
    rc = VIGIL_OK;
  }
  sodium_memzero(buf, sizeof buf);
  return rc;
}

/* Append a key (room checked by the caller) with its hint. */
static void auth__append(vigil_keyring *kr, const uint8_t key[VIGIL_KEY_BYTES]) {
  uint8_t h[crypto_generichash_BYTES];
  auth__fingerprint(key, h);
  memcpy(kr->keys[kr->nkeys], key, VIGIL_KEY_BYTES);
  kr->hints[kr->nkeys] = h[0];
  kr->nkeys++;
}

int vigil_keyring_add_base64(vigil_keyring *kr, const char *b64) {
  uint8_t key[VIGIL_KEY_BYTES];
  if (kr->nkeys >= VIGIL_KEYRING_MAX) return VIGIL_ERANGE;
  int rc = vigil_key_from_base64(b64, key);
  if (rc == VIGIL_OK) auth__append(kr, key);
  sodium_memzero(key, sizeof key);
  return rc;
}

int vigil_keyring_find(const vigil_keyring *kr, const uint8_t key[VIGIL_KEY_BYTES]) {
  uint32_t n = kr->nkeys < VIGIL_KEYRING_MAX ? kr->nkeys : VIGIL_KEYRING_MAX;
  for (uint32_t i = 0; i < n; i++)
    if (sodium_memcmp(kr->keys[i], key, VIGIL_KEY_BYTES) == 0) return (int)i;
  return -1;
}

int vigil_keyring_install(vigil_keyring *kr, const uint8_t key[VIGIL_KEY_BYTES]) {
  if (vigil_keyring_find(kr, key) >= 0) return VIGIL_EEXIST;
  if (kr->nkeys >= VIGIL_KEYRING_MAX) return VIGIL_ERANGE;
  auth__append(kr, key);
  return VIGIL_OK;
}

int vigil_keyring_use(vigil_keyring *kr, const uint8_t key[VIGIL_KEY_BYTES]) {
  int i = vigil_keyring_find(kr, key);
  if (i < 0) return VIGIL_ENOENT;
  uint8_t hint = kr->hints[i];
  /* Shift the keys before it down one place: the old primary comes second. */
  memmove(kr->keys[1], kr->keys[0], (size_t)i * VIGIL_KEY_BYTES);
  memmove(kr->hints + 1, kr->hints, (size_t)i);
  memcpy(kr->keys[0], key, VIGIL_KEY_BYTES);
  kr->hints[0] = hint;
  return VIGIL_OK;
}

int vigil_keyring_remove(vigil_keyring *kr, const uint8_t key[VIGIL_KEY_BYTES]) {
  int i = vigil_keyring_find(kr, key);
  if (i < 0) return VIGIL_ENOENT;
  if (i == 0) return VIGIL_EINVAL;
  uint32_t after = kr->nkeys - (uint32_t)i - 1;
  memmove(kr->keys[i], kr->keys[i + 1], (size_t)after * VIGIL_KEY_BYTES);
  memmove(kr->hints + i, kr->hints + i + 1, after);
  kr->nkeys--;
  sodium_memzero(kr->keys[kr->nkeys], VIGIL_KEY_BYTES);
  kr->hints[kr->nkeys] = 0;
  return VIGIL_OK;
}

bool vigil_keyring_equal(const vigil_keyring *a, const vigil_keyring *b) {
  if (a->nkeys != b->nkeys || a->nkeys > VIGIL_KEYRING_MAX) return false;
  return a->nkeys == 0 || sodium_memcmp(a->keys, b->keys, a->nkeys * VIGIL_KEY_BYTES) == 0;
}
