/*
 * keyfile.c - reading a keyring file (the runtime's side of auth.c).
 *
 * Owns: the file format -- one base64 32-byte key a line, blank lines and
 * '#' comments ignored -- and its error messages, which name the file and
 * the line but never a key's bytes.
 *
 * Must never: keep a key it did not parse completely, or leave key bytes in
 * a stack buffer after returning.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "vigil_runtime.h"

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
