/*
 * test_output.c - what the agent writes for programs to parse: JSON strings
 * (vigil__json_str, /v1/members and /health) and logfmt lines (vigil__log_quote,
 * vigil_log_fields, the event log), given names and messages that try to end
 * a string, a field or a line, bytes that are not UTF-8, and characters that
 * rearrange what a terminal shows. Names on the wire are validated before
 * they get here; this is the encoder's own guarantee.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "runtime.h"

/* ---- independent validators --------------------------------------------- */

/* RFC 3629 UTF-8, checked byte by byte. */
static bool utf8_valid(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t len = c < 0x80                 ? 1
                 : c >= 0xc2 && c <= 0xdf ? 2
                 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4
                                          : 0;
    if (!len || i + len > n) return false;
    for (size_t k = 1; k < len; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xbf) return false;
    if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f) || (c == 0xf0 && s[i + 1] < 0x90) ||
        (c == 0xf4 && s[i + 1] > 0x8f))
      return false;
    i += len;
  }
  return true;
}

/* One JSON string literal (RFC 8259, section 7), the whole of s: valid
 * UTF-8, no raw control byte, only the escapes JSON has. */
static bool json_string_valid(const char *s) {
  size_t n = strlen(s);
  if (!utf8_valid((const unsigned char *)s, n) || n < 2 || s[0] != '"' || s[n - 1] != '"') return false;
  for (size_t i = 1; i < n - 1; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == '"') return false;
    if (c != '\\') continue;
    c = (unsigned char)s[++i];
    if (c == 'u') {
      for (int k = 1; k <= 4; k++)
        if (i + (size_t)k >= n - 1 || !strchr("0123456789abcdefABCDEF", s[i + (size_t)k])) return false;
      i += 4;
    } else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
      return false;
    }
  }
  return true;
}

static char *json(const char *s, size_t n) {
  vigil__buf b = {NULL, 0, 0, false};
  vigil__json_str(&b, s, n);
  return b.data;
}

#define CHECK_JSON(in, want)                                                                                           \
  do {                                                                                                                 \
    char *got_ = json(in, sizeof(in) - 1);                                                                             \
    CHECK_STR(got_, want);                                                                                             \
    CHECK(json_string_valid(got_));                                                                                    \
    free(got_);                                                                                                        \
  } while (0)

/* What fn wrote on stderr, which is redirected meanwhile. */
static char captured[8192];
#define CAPTURE_STDERR(stmt)                                                                                           \
  do {                                                                                                                 \
    fflush(stderr);                                                                                                    \
    FILE *tmp_ = tmpfile();                                                                                            \
    int saved_ = dup(2);                                                                                               \
    dup2(fileno(tmp_), 2);                                                                                             \
    stmt;                                                                                                              \
    fflush(stderr);                                                                                                    \
    dup2(saved_, 2);                                                                                                   \
    close(saved_);                                                                                                     \
    rewind(tmp_);                                                                                                      \
    size_t n_ = fread(captured, 1, sizeof captured - 1, tmp_);                                                         \
    captured[n_] = '\0';                                                                                               \
    fclose(tmp_);                                                                                                      \
  } while (0)

static int count_char(const char *s, char c) {
  int n = 0;
  for (; *s; s++) n += *s == c;
  return n;
}

/* ---- JSON ---------------------------------------------------------------- */

TEST(json_strings_escape_what_would_end_them) {
  CHECK_JSON("10.0.0.1:7946", "\"10.0.0.1:7946\"");
  CHECK_JSON("a\",\"pname\":\"evil", "\"a\\\",\\\"pname\\\":\\\"evil\"");
  CHECK_JSON("back\\slash", "\"back\\\\slash\"");
  CHECK_JSON("line\nbreak\r\ttab", "\"line\\nbreak\\r\\ttab\"");
  CHECK_JSON("\x01\x1b[31m\x7f", "\"\\u0001\\u001b[31m\\u007f\"");
  CHECK_JSON("nul\0inside", "\"nul\\u0000inside\"");
  CHECK_JSON("", "\"\"");
}

TEST(json_strings_are_valid_utf8_whatever_the_input) {
  CHECK_JSON("caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""); /* valid: kept */
  CHECK_JSON("\xff\xfe", "\"\\ufffd\\ufffd\"");                                   /* never UTF-8 */
  CHECK_JSON("\x80x", "\"\\ufffdx\"");                                            /* lone continuation */
  CHECK_JSON("\xc3", "\"\\ufffd\"");                                              /* cut at the end */
  CHECK_JSON("\xe2\x82x", "\"\\ufffdx\"");                            /* truncated: one U+FFFD for the subpart */
  CHECK_JSON("\xc0\x80", "\"\\ufffd\\ufffd\"");                       /* overlong NUL */
  CHECK_JSON("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");            /* a surrogate */
  CHECK_JSON("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* past U+10FFFF */
}

TEST(json_strings_escape_separators_and_bidi_controls) {
  CHECK_JSON("a\xe2\x80\xa8"
             "b\xe2\x80\xa9",
             "\"a\\u2028b\\u2029\"");
  CHECK_JSON("evil\xe2\x80\xae"
             "txt.exe",
             "\"evil\\u202etxt.exe\""); /* RIGHT-TO-LEFT OVERRIDE */
  CHECK_JSON("\xe2\x81\xa6x\xe2\x81\xa9", "\"\\u2066x\\u2069\"");
  CHECK_JSON("\xc2\x9b"
             "31m",
             "\"\\u009b31m\""); /* C1 CSI */
}

TEST(json_strings_survive_the_chunking_of_long_input) {
  char in[2000];
  for (size_t i = 0; i < sizeof in; i++) in[i] = i % 7 == 0 ? '"' : i % 11 == 0 ? '\xff' : 'x';
  char *out = json(in, sizeof in);
  CHECK(out && json_string_valid(out));
  size_t quotes = 0, bad = 0;
  for (size_t i = 0; i < sizeof in; i++) quotes += in[i] == '"', bad += in[i] == '\xff';
  CHECK_INT(strlen(out), 2 + (sizeof in - quotes - bad) + 2 * quotes + 6 * bad);
  free(out);
}

/* ---- logfmt -------------------------------------------------------------- */

TEST(log_values_are_bare_only_when_nothing_needs_quoting) {
  char q[VIGIL__LOG_QUOTED(64)];
  CHECK_STR(vigil__log_quote(q, sizeof q, "127.0.0.1:7946"), "127.0.0.1:7946");
  CHECK_STR(vigil__log_quote(q, sizeof q, "[::1]:7946"), "[::1]:7946");
  CHECK_STR(vigil__log_quote(q, sizeof q, "z\xc3\xbcrich"), "z\xc3\xbcrich");
  CHECK_STR(vigil__log_quote(q, sizeof q, ""), "\"\"");
  CHECK_STR(vigil__log_quote(q, sizeof q, "two words"), "\"two words\"");
  CHECK_STR(vigil__log_quote(q, sizeof q, "a=b"), "\"a=b\"");
  CHECK_STR(vigil__log_quote(q, sizeof q, "r msg=\"disk wiped\" level=error"),
            "\"r msg=\\\"disk wiped\\\" level=error\"");
  CHECK_STR(vigil__log_quote(q, sizeof q, "a\\b"), "\"a\\\\b\"");
  CHECK_STR(vigil__log_quote(q, sizeof q, "x\ny"), "\"x\\ny\"");
  CHECK_STR(vigil__log_quote(q, sizeof q, "\x1b[2J"), "\"\\u001b[2J\"");
  CHECK_STR(vigil__log_quote(q, sizeof q, "\xff"), "\"\\ufffd\"");
  CHECK_STR(vigil__log_quote(q, sizeof q,
                             "a\xe2\x80\xae"
                             "b"),
            "\"a\\u202eb\"");
}

TEST(a_quoted_value_cut_to_fit_keeps_its_closing_quote) {
  char q[12];
  CHECK_STR(vigil__log_quote(q, sizeof q, "abcdefghijklmnop"), "abcdefghijk"); /* bare: cut */
  CHECK_STR(vigil__log_quote(q, sizeof q, "a \"b\" c d e f"), "\"a \\\"b\\\" c\"");
  CHECK_STR(vigil__log_quote(q, sizeof q, "a \xff\xff"), "\"a \\ufffd\""); /* never half an escape */
  CHECK(json_string_valid(q));
}

TEST(a_log_line_keeps_every_value_in_its_field) {
  vigil_log_set_level(VIGIL_LOG_DEBUG);
  const char evil[] = "r msg=\"disk wiped\" level=error\nts=x level=error msg=\"forged\"";
  vigil_log_field f[] = {
      {"source", "policy", 6},
      {"rack", evil, sizeof evil - 1},
      {"bad key=\"x\"", "v", 1},
      {"bytes", "\xff\x00\xe2\x80\xae", 5},
  };
  CAPTURE_STDERR(vigil_log_fields(VIGIL_LOG_WARN, "say \"hi\"\nlevel=error", f, 4));
  CHECK_INT(count_char(captured, '\n'), 1);
  CHECK(strstr(captured, " level=warn msg=\"say \\\"hi\\\"\\nlevel=error\" source=policy rack=\"r msg=\\\"disk "
                         "wiped\\\" level=error\\nts=x level=error msg=\\\"forged\\\"\" bad_key__x_=v "
                         "bytes=\"\\ufffd\\u0000\\u202e\"\n") != NULL);
  CHECK(utf8_valid((const unsigned char *)captured, strlen(captured)));
}

TEST(a_long_line_is_cut_at_1_kib_and_says_so) {
  char big[3000];
  memset(big, 'x', sizeof big);
  big[100] = ' ';
  vigil_log_field f[] = {{"a", "1", 1}, {"error", big, sizeof big}, {"after", "dropped", 7}};
  CAPTURE_STDERR(vigil_log_fields(VIGIL_LOG_ERROR, "policy handler failed", f, 3));
  size_t n = strlen(captured);
  CHECK(n <= 1024);
  CHECK_INT(count_char(captured, '\n'), 1);
  CHECK(n > 20 && strcmp(captured + n - 18, "x\" truncated=true\n") == 0);
  CHECK(strstr(captured, "after=") == NULL);
  /* printf-style fields are cut between two fields, never inside quotes */
  CAPTURE_STDERR(vigil__logf(VIGIL_LOG_INFO, "m", "a=1 b=\"%.900s\" c=\"%.900s\"", big, big));
  n = strlen(captured);
  CHECK(n <= 1024);
  CHECK(strstr(captured, " c=") == NULL && strstr(captured, " b=\"") != NULL);
  CHECK(n > 20 && strcmp(captured + n - 18, "x\" truncated=true\n") == 0);
}

TEST(the_event_log_quotes_names_from_the_wire) {
  vigil_event e;
  memset(&e, 0, sizeof e);
  e.type = VIGIL_EVENT_PEER_DOWN;
  e.previous = VIGIL_STATE_NORMAL;
  e.state = VIGIL_STATE_DOWN;
  e.cause = VIGIL_CAUSE_PHI;
  e.phi = 9.5;
  snprintf(e.peer, sizeof e.peer, "-x\";rm -rf $(id):1");
  snprintf(e.dc, sizeof e.dc, "d\\c");
  snprintf(e.rack, sizeof e.rack, "r msg=\"disk wiped\" level=error");
  CAPTURE_STDERR(vigil__log_event(&e));
  CHECK(strstr(captured,
               " level=warn msg=\"peer down\" peer=\"-x\\\";rm -rf $(id):1\" dc=\"d\\\\c\" "
               "rack=\"r msg=\\\"disk wiped\\\" level=error\" from=normal to=down phi=9.500 cause=phi\n") != NULL);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(json_strings_escape_what_would_end_them);
  RUN(json_strings_are_valid_utf8_whatever_the_input);
  RUN(json_strings_escape_separators_and_bidi_controls);
  RUN(json_strings_survive_the_chunking_of_long_input);
  RUN(log_values_are_bare_only_when_nothing_needs_quoting);
  RUN(a_quoted_value_cut_to_fit_keeps_its_closing_quote);
  RUN(a_log_line_keeps_every_value_in_its_field);
  RUN(a_long_line_is_cut_at_1_kib_and_says_so);
  RUN(the_event_log_quotes_names_from_the_wire);
  return CHECK_DONE();
}
