/*
 * keys.c - `vigil keygen` and `vigil keys`: making keys, and changing a
 * running agent's keyring.
 *
 * Owns: the two commands' flags, their help and their output, and the
 * small HTTP client that carries `vigil keys` to the agent's /v1/keys
 * endpoints (docs/AGENT.md, "Key rotation"). The keyring's rules are
 * auth.c's; what the agent does with a change (check, write the keyring
 * file, put it in force) is api.c's.
 *
 * Must never: print, log or send anywhere but to the agent a key it is
 * given; or report success for a change the agent did not confirm. A
 * key is checked here before it is sent (a typo gets exit 2 and the
 * reason, not a round trip), and the agent checks it again.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cmd.h"

static const char usage_keygen[] =
    "usage: vigil keygen\n"
    "\n"
    "Print a new random key (32 bytes from libsodium's randombytes, in base64) on one line,\n"
    "as a keyring file holds it. Make a cluster's first keyring with it:\n"
    "\n"
    "  (umask 077; vigil keygen > /etc/vigil/keyring)\n"
    "\n"
    "and copy the file to every agent (--keyring /etc/vigil/keyring). To rotate to a new\n"
    "key while the cluster runs, see vigil keys --help.\n";

static const char usage_keys[] =
    "usage: vigil keys list [--json] [--http host:port]\n"
    "       vigil keys install KEY [--http host:port]\n"
    "       vigil keys use KEY [--http host:port]\n"
    "       vigil keys remove KEY [--http host:port]\n"
    "\n"
    "Change the keyring of the agent at --http (default 127.0.0.1:7947) while it runs. The\n"
    "agent writes each change to its keyring file (--keyring) before it takes effect.\n"
    "\n"
    "  list     the keys' fingerprints (never the keys) and which one is the primary\n"
    "  install  add KEY: frames encrypted with it are accepted; the primary still encrypts\n"
    "  use      make the installed KEY the primary: the agent encrypts what it sends with it\n"
    "  remove   drop KEY (not the primary): frames encrypted with it are rejected\n"
    "\n"
    "KEY is a base64 32-byte key (vigil keygen), or - to read it from standard input\n"
    "(keeps it out of the process list and the shell's history).\n"
    "\n"
    "Rotate a cluster's key without a restart, each step on every agent before the next:\n"
    "  1. vigil keys install NEW    2. vigil keys use NEW    3. vigil keys remove OLD\n"
    "\n"
    "Changes need a loopback client (run this on the agent's machine) or the agent's\n"
    "--http-token-file; this command sends no token. Exits 1 with the agent's reason when\n"
    "it refuses a change, 2 on a bad argument.\n";

/* ---- the agent's API (client.c) ------------------------------------------- */

/* method path on host:port (no token: `vigil keys` runs on the agent's
 * machine); the status, and the body in a malloc'd string (*body). */
static int keys__http(const char *cmd, const char *addr, const char *method, const char *path, char **body) {
  return vigil_http_call(cmd, addr, NULL, method, path, body);
}

static bool keys__json_str(const char *doc, const char *key, char *out, size_t cap) {
  return vigil_json_str(doc, NULL, key, out, cap);
}

/* Percent-encode a base64 key for a query string. */
static void keys__urlencode(const char *s, char *out, size_t cap) {
  size_t n = 0;
  for (; *s && n + 4 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~')
      out[n++] = (char)c;
    else
      n += (size_t)snprintf(out + n, cap - n, "%%%02X", c);
  }
  out[n] = '\0';
}

/* The key argument: as given, or one line of standard input for "-". */
static void keys__read_key(const char *cmd, const char *arg, char *out, size_t cap) {
  if (strcmp(arg, "-") != 0) {
    if (strlen(arg) >= cap) die(2, cmd, "KEY: not a base64 32-byte key (make one with `vigil keygen`)");
    memcpy(out, arg, strlen(arg) + 1);
    return;
  }
  if (!fgets(out, (int)cap, stdin)) die(2, cmd, "KEY: nothing on standard input");
  out[strcspn(out, "\r\n")] = '\0';
}

/* ---- vigil keys list ------------------------------------------------------- */

static int keys__list(const char *cmd, const char *http, bool json) {
  char *body = NULL;
  int status = keys__http(cmd, http, "GET", "/v1/keys", &body);
  if (status == 404) die(1, cmd, "the agent at %s has no /v1/keys: it is older than `vigil keys`", http);
  if (status != 200) die(1, cmd, "the agent at %s answered %d", http, status);
  if (json) {
    fputs(body, stdout);
    free(body);
    return 0;
  }
  if (strstr(body, "\"encrypted\":false")) {
    printf("the agent at %s runs without a keyring: its gossip is not encrypted\n", http);
    free(body);
    return 0;
  }
  printf("%-12s %s\n", "FINGERPRINT", "ROLE");
  int nkeys = 0;
  for (const char *p = strstr(body, "{\"fingerprint\":\""); p; p = strstr(p + 1, "{\"fingerprint\":\"")) {
    char fp[VIGIL_KEY_FINGERPRINT] = "";
    keys__json_str(p, "fingerprint", fp, sizeof fp);
    const char *primary = strstr(p, "\"primary\":");
    bool first = primary && strncmp(primary + 10, "true", 4) == 0;
    printf("%-12s %s\n", fp,
           first ? "primary: encrypts what the agent sends, decrypts" : "decrypts what the agent receives");
    nkeys++;
  }
  char path[4096] = "";
  keys__json_str(body, "keyring", path, sizeof path);
  printf("%d of at most %d keys, kept in %s\n", nkeys, VIGIL_KEYRING_MAX, *path ? path : "(no file)");
  free(body);
  return 0;
}

/* ---- vigil keys install|use|remove -------------------------------------------- */

static int keys__change(const char *cmd, const char *http, const char *verb, const char *arg) {
  char b64[256], enc[512], path[600];
  uint8_t key[VIGIL_KEY_BYTES];
  keys__read_key(cmd, arg, b64, sizeof b64);
  if (vigil_key_from_base64(b64, key) != VIGIL_OK) {
    sodium_memzero(b64, sizeof b64);
    die(2, cmd, "%s: KEY is not a base64 32-byte key (make one with `vigil keygen`)", verb);
  }
  sodium_memzero(key, sizeof key);
  keys__urlencode(b64 + strspn(b64, " \t"), enc, sizeof enc);
  snprintf(path, sizeof path, "/v1/keys/%s?key=%s", verb, enc);
  sodium_memzero(b64, sizeof b64);
  sodium_memzero(enc, sizeof enc);
  char *body = NULL;
  int status = keys__http(cmd, http, "POST", path, &body);
  sodium_memzero(path, sizeof path);
  char msg[1024] = "", fp[VIGIL_KEY_FINGERPRINT] = "";
  if (status != 200) {
    if (!keys__json_str(body, "error", msg, sizeof msg))
      snprintf(msg, sizeof msg, "the agent at %s answered %d%s", http, status,
               status == 404 || status == 405 ? " (an agent older than `vigil keys`?)" : "");
    free(body);
    die(1, cmd, "%s: %s", verb, msg);
  }
  keys__json_str(body, "fingerprint", fp, sizeof fp);
  keys__json_str(body, "status", msg, sizeof msg);
  const char *first = strstr(body, "{\"fingerprint\":\"");
  char primary[VIGIL_KEY_FINGERPRINT] = "";
  if (first) keys__json_str(first, "fingerprint", primary, sizeof primary);
  int nkeys = 0;
  for (const char *p = first; p; p = strstr(p + 1, "{\"fingerprint\":\"")) nkeys++;
  const char *plural = nkeys == 1 ? "" : "s";
  if (strcmp(msg, "unchanged") == 0)
    printf("%s is the primary key already: nothing changed\n", fp);
  else if (strcmp(verb, "install") == 0)
    printf("installed %s: frames encrypted with it are accepted (%d key%s; %s stays primary)\n", fp, nkeys, plural,
           primary);
  else if (strcmp(verb, "use") == 0)
    printf("%s is the primary key: the agent encrypts what it sends with it (%d key%s)\n", fp, nkeys, plural);
  else
    printf("removed %s: frames encrypted with it are rejected (%d key%s; primary %s)\n", fp, nkeys, plural, primary);
  free(body);
  return 0;
}

int vigil_cmd_keys(args *a) {
  const char *http = "127.0.0.1:7947", *verb = NULL, *key = NULL, *v;
  bool json = false;
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *arg = a->argv[a->i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage_keys, stdout);
      return 0;
    } else if (is_flag(arg, "--http", &v)) {
      http = flag_value(a, "--http", v);
      size_t hl;
      uint16_t port;
      if (vigil_pname_parse(http, &hl, &port) != VIGIL_OK) die(2, a->cmd, "--http: expected host:port, got '%s'", http);
    } else if (strcmp(arg, "--json") == 0) {
      json = true;
    } else if (!verb && arg[0] != '-') {
      verb = arg;
    } else if (verb && !key && (arg[0] != '-' || strcmp(arg, "-") == 0)) {
      key = arg;
    } else {
      die(2, a->cmd, "unexpected %s (see vigil keys --help)", arg[0] == '-' && arg[1] ? "flag" : "argument");
    }
  }
  if (!verb) die(2, a->cmd, "list, install, use or remove? (see vigil keys --help)");
  if (strcmp(verb, "list") == 0) {
    if (key) die(2, a->cmd, "list takes no key");
    return keys__list(a->cmd, http, json);
  }
  if (strcmp(verb, "install") != 0 && strcmp(verb, "use") != 0 && strcmp(verb, "remove") != 0)
    die(2, a->cmd, "unknown verb '%s': list, install, use or remove (see vigil keys --help)", verb);
  if (json) die(2, a->cmd, "--json goes with list");
  if (!key) die(2, a->cmd, "%s needs a KEY (base64, or - to read it from standard input)", verb);
  return keys__change(a->cmd, http, verb, key);
}

/* ---- vigil keygen ---------------------------------------------------------- */

int vigil_cmd_keygen(args *a) {
  for (a->i = 2; a->i < a->argc; a->i++) {
    const char *arg = a->argv[a->i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage_keygen, stdout);
      return 0;
    }
    die(2, a->cmd, "unexpected %s '%s' (see vigil keygen --help)", arg[0] == '-' ? "flag" : "argument", arg);
  }
  if (sodium_init() < 0) die(1, a->cmd, "cannot initialise libsodium (no entropy source?)");
  uint8_t key[VIGIL_KEY_BYTES];
  char b64[sodium_base64_ENCODED_LEN(VIGIL_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL)];
  randombytes_buf(key, sizeof key);
  sodium_bin2base64(b64, sizeof b64, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
  sodium_memzero(key, sizeof key);
  bool ok = printf("%s\n", b64) > 0 && fflush(stdout) == 0;
  sodium_memzero(b64, sizeof b64);
  if (!ok) die(1, a->cmd, "cannot write the key: %s", strerror(errno));
  return 0;
}
