/*
 * keyfile.c - reading and writing a keyring file (the runtime's side of
 * auth.c).
 *
 * Owns: the file format -- one base64 32-byte key a line, the primary
 * first, blank lines and '#' comments ignored -- and its error messages,
 * which name the file and the line but never a key's bytes. Writing (what
 * `vigil keys` changes at runtime) replaces the file atomically: a new file
 * beside it, mode 0600, written and synced, then renamed over it, so that
 * a crash leaves either the old keyring or the new one, never half of one,
 * and a key is never readable by others for an instant.
 *
 * Must never: keep a key it did not parse completely, or leave key bytes in
 * a stack buffer after returning.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Write all of buf to fd; false on any error (errno set). */
static bool keyfile__write_all(int fd, const char *buf, size_t len) {
  while (len) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= (size_t)n;
  }
  return true;
}

int vigil_keyring_save(const vigil_keyring *kr, const char *path, char *err, size_t errlen) {
  if (kr->nkeys == 0 || kr->nkeys > VIGIL_KEYRING_MAX) {
    snprintf(err, errlen, "%s: a keyring file needs 1 to %d keys", path, VIGIL_KEYRING_MAX);
    return VIGIL_EINVAL;
  }
  /* Write beside the real file when path is a symbolic link: the rename
   * then replaces the file, and the link stays. */
  char real[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX + 32];
  if (!realpath(path, real)) {
    if (errno != ENOENT || strlen(path) >= sizeof real) {
      snprintf(err, errlen, "%s: %s", path, strerror(errno));
      return VIGIL_EINVAL;
    }
    snprintf(real, sizeof real, "%s", path); /* not there (yet): written where it is named */
  }
  snprintf(dir, sizeof dir, "%s", real);
  const char *base = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
  snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dirname(dir), base);
  int fd = mkstemp(tmp); /* mode 0600 */
  if (fd < 0) {
    snprintf(err, errlen, "cannot write the keyring beside %s: %s", real, strerror(errno));
    return VIGIL_EINVAL;
  }
  /* One buffer, wiped after: a header, then a key a line, the primary first. */
  char text[256 + VIGIL_KEYRING_MAX * (sodium_base64_ENCODED_LEN(VIGIL_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL) + 1)];
  int len = snprintf(text, sizeof text,
                     "# vigil keyring, written by the agent (`vigil keys`): one base64 key a line.\n"
                     "# The first key encrypts what this agent sends; every key decrypts.\n");
  for (uint32_t i = 0; i < kr->nkeys; i++) {
    sodium_bin2base64(text + len, sizeof text - (size_t)len, kr->keys[i], VIGIL_KEY_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    len += (int)strlen(text + len);
    text[len++] = '\n';
  }
  bool ok = fchmod(fd, S_IRUSR | S_IWUSR) == 0 && keyfile__write_all(fd, text, (size_t)len) && fsync(fd) == 0;
  int saved = errno;
  sodium_memzero(text, sizeof text);
  if (close(fd) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (ok && rename(tmp, real) != 0) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    unlink(tmp);
    snprintf(err, errlen, "cannot write %s: %s", real, strerror(saved));
    return VIGIL_EINVAL;
  }
  /* The rename itself survives a crash once the directory is synced. */
  snprintf(dir, sizeof dir, "%s", real);
  int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return VIGIL_OK;
}
