/*
 * fuzz_frame.c - libFuzzer target for the frame decoder (make fuzz).
 *
 * Properties checked on every input, besides "no crash, no sanitizer
 * report": a rejection always has a named reason, and a frame that decodes
 * re-encodes to bytes that decode to the same frame (what the agent relays
 * in digests must be readable by its peers). Inputs whose first byte is odd
 * are also decoded against a keyring, to reach the authentication paths;
 * a sealed encoding differs every time (a fresh nonce), so the frames are
 * compared through their plaintext encodings.
 */
#include <stdlib.h>
#include <string.h>

#include "vigil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static vigil_frame f, g;
  static vigil_keyring kr;
  if (kr.nkeys == 0) vigil_keyring_add_base64(&kr, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  const vigil_keyring *k = size && (data[0] & 1) ? &kr : NULL;
  int rc = vigil_frame_decode(data, size, k, &f);
  if (rc != VIGIL_OK) {
    if (vigil_frame_reason_index(rc) < 0) abort();
    return 0;
  }
  uint8_t out[VIGIL_FRAME_MAX];
  int n = vigil_frame_encode(&f, k, out, sizeof out);
  if (n == VIGIL_FRAME_ETOOBIG) return 0; /* a re-encoded frame may be sealed, and so longer */
  if (n < 0) abort();
  if (vigil_frame_decode(out, (size_t)n, k, &g) != VIGIL_OK) abort();
  uint8_t plain[VIGIL_FRAME_MAX], again[VIGIL_FRAME_MAX];
  int p = vigil_frame_encode(&f, NULL, plain, sizeof plain);
  int m = vigil_frame_encode(&g, NULL, again, sizeof again);
  if (p < 0 || m != p || memcmp(plain, again, (size_t)p) != 0) abort();
  return 0;
}
