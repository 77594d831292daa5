/*
 * check.h - the smallest test harness that does the job: TEST() functions
 * registered in main through RUN() (one ctest entry each), CHECK* macros that report file:line and
 * the values involved, and a closing "N passed, N failed" line. A test
 * binary exits non-zero when any check failed, so ctest sees it.
 */
#ifndef VIGIL_CHECK_H
#define VIGIL_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed, check_test_failed;
static const char *check_current;
static const char *check_only; /* run just this test (argv[1]) when set */

#define CHECK_FAIL_(...)                                                                                               \
  do {                                                                                                                 \
    check_test_failed = 1;                                                                                             \
    fprintf(stderr, "  FAIL %s:%d in %s: ", __FILE__, __LINE__, check_current);                                        \
    fprintf(stderr, __VA_ARGS__);                                                                                      \
    fputc('\n', stderr);                                                                                               \
  } while (0)

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) CHECK_FAIL_("expected %s", #cond);                                                                    \
  } while (0)

#define CHECK_INT(a, b)                                                                                                \
  do {                                                                                                                 \
    long long a_ = (long long)(a), b_ = (long long)(b);                                                                \
    if (a_ != b_) CHECK_FAIL_("%s == %s (got %lld, want %lld)", #a, #b, a_, b_);                                       \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                                          \
  do {                                                                                                                 \
    double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                                                     \
    if (!(fabs(a_ - b_) <= t_)) CHECK_FAIL_("%s ~ %s (got %.9g, want %.9g +- %g)", #a, #b, a_, b_, t_);                \
  } while (0)

#define CHECK_STR(a, b)                                                                                                \
  do {                                                                                                                 \
    const char *a_ = (a), *b_ = (b);                                                                                   \
    if (strcmp(a_, b_) != 0) CHECK_FAIL_("%s == %s (got \"%s\", want \"%s\")", #a, #b, a_, b_);                        \
  } while (0)

#define TEST(name) static void name(void)

#define RUN(name)                                                                                                      \
  do {                                                                                                                 \
    if (check_only && strcmp(check_only, #name) != 0) break;                                                           \
    check_current = #name;                                                                                             \
    check_test_failed = 0;                                                                                             \
    name();                                                                                                            \
    if (check_test_failed) {                                                                                           \
      check_failed++;                                                                                                  \
      fprintf(stderr, "not ok - %s\n", #name);                                                                         \
    } else {                                                                                                           \
      check_passed++;                                                                                                  \
      printf("ok - %s\n", #name);                                                                                      \
    }                                                                                                                  \
  } while (0)

/* Call first in main: `test_x NAME` runs only the test NAME (ctest
 * registers one entry per RUN line this way). */
#define CHECK_ARGS(argc, argv) (check_only = (argc) > 1 ? (argv)[1] : NULL)

#define CHECK_DONE()                                                                                                   \
  (printf("%d passed, %d failed\n", check_passed, check_failed),                                                       \
   check_only && check_passed + check_failed == 0 ? (fprintf(stderr, "no test named %s\n", check_only), 2)             \
   : check_failed                                 ? 1                                                                  \
                                                  : 0)

#endif
