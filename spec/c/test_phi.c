/*
 * test_phi.c - the phi-accrual detector against the published vectors of
 * Akka's AccrualFailureDetectorSpec and Cassandra's ArrivalWindowTest, plus
 * the rules vigil adds (bounds, exact running sums, config checks).
 *
 * Akka's spec drives its detector with a fake clock that advances by the
 * next interval on every call that reads it (heartbeat, phi, isAvailable);
 * clock_t below does the same in milliseconds.
 */
#include <stdlib.h>

#include "check.h"
#include "vigil.h"

#define MS(x) ((vigil_time)(x)*VIGIL_MS)

/* Akka's fakeTimeGenerator: each tick() returns the next cumulative time. */
typedef struct fake_clock {
  const long *intervals;
  size_t n, i;
  vigil_time t;
} fake_clock;

static vigil_time tick(fake_clock *c) {
  if (c->i >= c->n) {
    fprintf(stderr, "fake clock exhausted\n");
    abort();
  }
  c->t += MS(c->intervals[c->i++]);
  return c->t;
}

/* Akka's createFailureDetector defaults. */
static vigil_detector_config akka_config(void) {
  vigil_detector_config c;
  vigil_detector_config_init(&c);
  c.threshold = 8.0;
  c.max_samples = 1000;
  c.min_std_dev = MS(100);
  c.acceptable_pause = 0;
  c.first_estimate = MS(1000);
  return c;
}

static double cdf(double phi) { return 1.0 - pow(10, -phi); }

TEST(normal_cdf_is_good_enough) {
  CHECK_NEAR(cdf(vigil_phi_normal(0, 0, 10)), 0.5, 0.001);
  CHECK_NEAR(cdf(vigil_phi_normal(6, 0, 10)), 0.7257, 0.001);
  CHECK_NEAR(cdf(vigil_phi_normal(15, 0, 10)), 0.9332, 0.001);
  CHECK_NEAR(cdf(vigil_phi_normal(20, 0, 10)), 0.97725, 0.001);
  CHECK_NEAR(cdf(vigil_phi_normal(25, 0, 10)), 0.99379, 0.001);
  CHECK_NEAR(cdf(vigil_phi_normal(35, 0, 10)), 0.99977, 0.001);
  CHECK_NEAR(cdf(vigil_phi_normal(40, 0, 10)), 0.99997, 0.0001);
  for (int x = 0; x < 40; x++) CHECK(vigil_phi_normal(x, 0, 10) < vigil_phi_normal(x + 1, 0, 10));
  CHECK_NEAR(cdf(vigil_phi_normal(22, 20.0, 3)), 0.7475, 0.001);
}

TEST(normal_formula_is_akkas_to_the_last_digits) {
  /* Reference values computed from Akka's expression as written
   * (-log10(e / (1 + e)) and -log10(1 - 1 / (1 + e))) in double precision. */
  CHECK_NEAR(vigil_phi_normal(1400, 1000, 100), 4.736694582705181, 1e-12);
  CHECK_NEAR(vigil_phi_normal(900, 1000, 100), 0.0750330321409399, 1e-12);
  CHECK_NEAR(vigil_phi_normal(1234.5, 1000, 50), 6.415595057184478, 1e-12);
  CHECK_NEAR(vigil_phi_normal(0, 1000, 250), 7.963311608865193e-06, 1e-15);
}

TEST(normal_handles_outliers_without_losing_precision) {
  CHECK_NEAR(vigil_phi_normal(10, 0, 1), 38.0, 1.0);
  CHECK_INT(vigil_phi_normal(-25, 0, 1) == 0.0, 1);
  /* Far past the point where exp() underflows, phi keeps growing, finite. */
  double far = vigil_phi_normal(1e6, 0, 1);
  CHECK(isfinite(far));
  CHECK(far > vigil_phi_normal(1e3, 0, 1));
}

TEST(normal_returns_realistic_phi_values) {
  static const struct {
    int diff;
    double phi;
  } v[] = {{0, 0.0}, {500, 0.1}, {1000, 0.3}, {1200, 1.6}, {1400, 4.7}, {1600, 10.8}, {1700, 15.3}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    CHECK_NEAR(vigil_phi_normal(v[i].diff, 1000.0, 100.0), v[i].phi, 0.1);
  CHECK(vigil_phi_normal(1100, 1000, 500) < vigil_phi_normal(1100, 1000, 100));
}

TEST(phi_is_zero_and_not_monitoring_before_any_heartbeat) {
  vigil_detector_config c = akka_config();
  vigil_detector d;
  CHECK_INT(vigil_detector_init(&d, &c), VIGIL_OK);
  CHECK_INT(vigil_detector_is_monitoring(&d), 0);
  CHECK_NEAR(vigil_detector_phi(&d, MS(0)), 0.0, 0);
  CHECK_NEAR(vigil_detector_phi(&d, MS(123456)), 0.0, 0);
  CHECK(vigil_detector_is_available(&d, MS(99999)));
  vigil_detector_free(&d);
}

TEST(phi_is_based_on_the_first_estimate_after_one_heartbeat) {
  static const long iv[] = {0, 1000, 1000, 1000, 1000};
  fake_clock clk = {iv, 5, 0, 0};
  vigil_detector_config c = akka_config();
  vigil_detector d;
  vigil_detector_init(&d, &c);
  vigil_detector_heartbeat(&d, tick(&clk));
  CHECK_NEAR(vigil_detector_phi(&d, tick(&clk)), 0.3, 0.2);
  CHECK_NEAR(vigil_detector_phi(&d, tick(&clk)), 4.5, 0.3);
  CHECK(vigil_detector_phi(&d, tick(&clk)) > 15.0);
  /* The bootstrap window: {est - est/4, est + est/4}. */
  CHECK_INT(vigil_detector_samples(&d), 2);
  CHECK_NEAR(vigil_detector_mean(&d), 1e9, 1);
  CHECK_NEAR(vigil_detector_variance(&d), 250e6 * 250e6, 1e6);
  vigil_detector_free(&d);
}

TEST(phi_uses_the_first_interval_after_the_second_heartbeat) {
  static const long iv[] = {0, 100, 100, 100};
  fake_clock clk = {iv, 4, 0, 0};
  vigil_detector_config c = akka_config();
  vigil_detector d;
  vigil_detector_init(&d, &c);
  vigil_detector_heartbeat(&d, tick(&clk));
  CHECK(vigil_detector_phi(&d, tick(&clk)) > 0.0);
  vigil_detector_heartbeat(&d, tick(&clk));
  CHECK(vigil_detector_phi(&d, tick(&clk)) > 0.0);
  vigil_detector_free(&d);
}

TEST(is_monitoring_after_a_series_of_heartbeats) {
  static const long iv[] = {0, 1000, 100, 100};
  fake_clock clk = {iv, 4, 0, 0};
  vigil_detector_config c = akka_config();
  vigil_detector d;
  vigil_detector_init(&d, &c);
  CHECK_INT(vigil_detector_is_monitoring(&d), 0);
  vigil_detector_heartbeat(&d, tick(&clk));
  vigil_detector_heartbeat(&d, tick(&clk));
  vigil_detector_heartbeat(&d, tick(&clk));
  CHECK_INT(vigil_detector_is_monitoring(&d), 1);
  CHECK(vigil_detector_is_available(&d, tick(&clk)));
  vigil_detector_free(&d);
}

TEST(is_unavailable_when_heartbeats_are_missed) {
  static const long iv[] = {0, 1000, 100, 100, 7000};
  fake_clock clk = {iv, 5, 0, 0};
  vigil_detector_config c = akka_config();
  c.threshold = 3;
  vigil_detector d;
  vigil_detector_init(&d, &c);
  vigil_detector_heartbeat(&d, tick(&clk));            /* 0 */
  vigil_detector_heartbeat(&d, tick(&clk));            /* 1000 */
  vigil_detector_heartbeat(&d, tick(&clk));            /* 1100 */
  CHECK(vigil_detector_is_available(&d, tick(&clk)));  /* 1200 */
  CHECK(!vigil_detector_is_available(&d, tick(&clk))); /* 8200 */
  vigil_detector_free(&d);
}

TEST(is_available_again_when_heartbeats_resume_after_a_failure) {
  /* 1000 regular intervals, a 5 minute pause, then a short pause again
   * that must make it unavailable again. */
  long iv[1009];
  iv[0] = 0;
  for (int i = 1; i < 1000; i++) iv[i] = 1000;
  const long tail[] = {5 * 60 * 1000, 100, 900, 100, 7000, 100, 900, 100, 900};
  for (int i = 0; i < 9; i++) iv[1000 + i] = tail[i];
  fake_clock clk = {iv, 1009, 0, 0};
  vigil_detector_config c = akka_config();
  c.threshold = 8;
  c.acceptable_pause = MS(3000);
  vigil_detector d;
  vigil_detector_init(&d, &c);
  for (int i = 0; i < 1000; i++) vigil_detector_heartbeat(&d, tick(&clk));
  CHECK(!vigil_detector_is_available(&d, tick(&clk))); /* after the long pause */
  vigil_detector_heartbeat(&d, tick(&clk));
  CHECK(vigil_detector_is_available(&d, tick(&clk)));
  vigil_detector_heartbeat(&d, tick(&clk));
  CHECK(!vigil_detector_is_available(&d, tick(&clk))); /* after the 7 s pause */
  vigil_detector_heartbeat(&d, tick(&clk));
  CHECK(vigil_detector_is_available(&d, tick(&clk)));
  vigil_detector_heartbeat(&d, tick(&clk));
  CHECK(vigil_detector_is_available(&d, tick(&clk)));
  /* The 5-minute gap never entered the window. */
  CHECK(vigil_detector_mean(&d) < 1.1e9);
  vigil_detector_free(&d);
}

TEST(accepts_the_configured_missing_heartbeats) {
  static const long iv[] = {0, 1000, 1000, 1000, 4000, 1000, 1000};
  fake_clock clk = {iv, 7, 0, 0};
  vigil_detector_config c = akka_config();
  c.acceptable_pause = MS(3000);
  vigil_detector d;
  vigil_detector_init(&d, &c);
  for (int i = 0; i < 4; i++) vigil_detector_heartbeat(&d, tick(&clk));
  CHECK(vigil_detector_is_available(&d, tick(&clk)));
  vigil_detector_heartbeat(&d, tick(&clk));
  CHECK(vigil_detector_is_available(&d, tick(&clk)));
  vigil_detector_free(&d);
}

TEST(fails_after_the_configured_acceptable_missing_heartbeats) {
  static const long iv[] = {0, 1000, 1000, 1000, 1000, 1000, 500, 500, 5000};
  fake_clock clk = {iv, 9, 0, 0};
  vigil_detector_config c = akka_config();
  c.acceptable_pause = MS(3000);
  vigil_detector d;
  vigil_detector_init(&d, &c);
  for (int i = 0; i < 6; i++) vigil_detector_heartbeat(&d, tick(&clk));
  CHECK(vigil_detector_is_available(&d, tick(&clk)));
  vigil_detector_heartbeat(&d, tick(&clk));
  CHECK(!vigil_detector_is_available(&d, tick(&clk)));
  vigil_detector_free(&d);
}

TEST(uses_at_most_max_samples_intervals) {
  static const long iv[] = {0, 100, 100, 100, 100, 600, 500, 500, 500, 500, 500};
  fake_clock clk = {iv, 11, 0, 0};
  vigil_detector_config c = akka_config();
  c.max_samples = 3;
  vigil_detector d;
  vigil_detector_init(&d, &c);
  for (int i = 0; i < 4; i++) vigil_detector_heartbeat(&d, tick(&clk));
  double phi1 = vigil_detector_phi(&d, tick(&clk));
  for (int i = 0; i < 4; i++) vigil_detector_heartbeat(&d, tick(&clk));
  double phi2 = vigil_detector_phi(&d, tick(&clk));
  CHECK_NEAR(phi2, phi1, 0.001);
  CHECK_INT(vigil_detector_samples(&d), 3);
  vigil_detector_free(&d);
}

/* Feed raw intervals into a window (bypassing the bootstrap seeds) by
 * using the exponential model, which does not seed. */
static void window_of(vigil_detector *d, vigil_detector_config *c, uint32_t max, const long *ms, int n) {
  vigil_detector_config_init(c);
  c->model = VIGIL_MODEL_EXPONENTIAL;
  c->threshold = 1e9; /* always available: every interval enters */
  c->max_samples = max;
  vigil_detector_init(d, c);
  vigil_time t = MS(1);
  vigil_detector_heartbeat(d, t);
  for (int i = 0; i < n; i++) {
    t += MS(ms[i]);
    vigil_detector_heartbeat(d, t);
  }
}

TEST(window_mean_and_variance_are_correct) {
  static const long s[] = {100, 200, 125, 340, 130};
  vigil_detector_config c;
  vigil_detector d;
  window_of(&d, &c, 20, s, 5);
  CHECK_NEAR(vigil_detector_mean(&d) / 1e6, 179.0, 0.00001);
  CHECK_NEAR(vigil_detector_variance(&d) / 1e12, 7584.0, 0.00001);
  vigil_detector_free(&d);
}

TEST(window_variance_is_zero_for_one_sample) {
  static const long s[] = {1000};
  vigil_detector_config c;
  vigil_detector d;
  window_of(&d, &c, 600, s, 1);
  CHECK_NEAR(vigil_detector_variance(&d), 0.0, 0.00001);
  vigil_detector_free(&d);
}

TEST(window_is_capped_by_max_samples) {
  static const long s[] = {100, 110, 90, 140, 80};
  vigil_detector_config c;
  vigil_detector d;
  window_of(&d, &c, 3, s, 3);
  CHECK_NEAR(vigil_detector_mean(&d) / 1e6, 100.0, 0.00001);
  CHECK_NEAR(vigil_detector_variance(&d) / 1e12, 66.6666667, 0.00001);
  vigil_detector_free(&d);
  window_of(&d, &c, 3, s, 4);
  CHECK_NEAR(vigil_detector_mean(&d) / 1e6, 113.333333, 0.00001);
  CHECK_NEAR(vigil_detector_variance(&d) / 1e12, 422.222222, 0.00001);
  vigil_detector_free(&d);
  window_of(&d, &c, 3, s, 5);
  CHECK_NEAR(vigil_detector_mean(&d) / 1e6, 103.333333, 0.00001);
  CHECK_NEAR(vigil_detector_variance(&d) / 1e12, 688.88888889, 0.00001);
  vigil_detector_free(&d);
}

TEST(running_sums_stay_exact_over_millions_of_heartbeats) {
  /* 3 million intervals alternating 1 h and 1 ms: squares of ~3.6e9 us
   * overflow 64 bits within a window of 1000; the 128-bit sum must not. */
  vigil_detector_config c;
  vigil_detector_config_init(&c);
  c.model = VIGIL_MODEL_EXPONENTIAL;
  c.threshold = 1e12;
  c.max_samples = 1000;
  vigil_detector d;
  vigil_detector_init(&d, &c);
  vigil_time t = 1;
  vigil_detector_heartbeat(&d, t);
  for (int i = 0; i < 3000000; i++) {
    t += (i & 1) ? MS(1) : 3600 * VIGIL_SEC;
    vigil_detector_heartbeat(&d, t);
  }
  /* Window: 500 of each. mean = (3.6e9 + 1e3)/2 us; var = ((3.6e9-1e3)/2)^2 */
  CHECK_NEAR(vigil_detector_mean(&d) / 1e3, (3.6e9 + 1e3) / 2, 1e-3);
  double half = (3.6e9 - 1e3) / 2;
  CHECK_NEAR(vigil_detector_variance(&d) / 1e6, half * half, half * half * 1e-12);
  vigil_detector_free(&d);
}

TEST(intervals_clamp_at_the_storage_limit) {
  static const long s[] = {1};
  vigil_detector_config c;
  vigil_detector d;
  window_of(&d, &c, 4, s, 0);
  vigil_detector_heartbeat(&d, MS(1) + 100000 * VIGIL_SEC); /* 27 hours */
  CHECK_NEAR(vigil_detector_mean(&d), (double)UINT32_MAX * 1e3, 1e3);
  vigil_detector_free(&d);
}

TEST(a_heartbeat_from_the_past_is_ignored) {
  vigil_detector_config c = akka_config();
  vigil_detector d;
  vigil_detector_init(&d, &c);
  vigil_detector_heartbeat(&d, MS(5000));
  vigil_detector_heartbeat(&d, MS(6000));
  uint32_t n = vigil_detector_samples(&d);
  vigil_detector_heartbeat(&d, MS(5500));
  CHECK_INT(vigil_detector_samples(&d), n);
  CHECK_INT(d.last, MS(6000));
  /* phi at a time before the last heartbeat is that of zero elapsed time. */
  CHECK(vigil_detector_phi(&d, MS(1)) < 0.01);
  vigil_detector_free(&d);
}

TEST(reset_forgets_everything) {
  vigil_detector_config c = akka_config();
  vigil_detector d;
  vigil_detector_init(&d, &c);
  for (int i = 0; i < 10; i++) vigil_detector_heartbeat(&d, MS(1000 * i));
  CHECK(vigil_detector_phi(&d, MS(30000)) > 8);
  vigil_detector_reset(&d);
  CHECK_INT(vigil_detector_is_monitoring(&d), 0);
  CHECK_INT(vigil_detector_samples(&d), 0);
  CHECK_NEAR(vigil_detector_phi(&d, MS(30000)), 0.0, 0);
  vigil_detector_free(&d);
}

/* Cassandra's ArrivalWindowTest: window 4, heartbeats every 111 ms.
 * Cassandra's ArrivalWindow.phi() returns elapsed / mean and applies
 * PHI_FACTOR = 1 / ln 10 in its caller; vigil's exponential phi includes
 * the factor, so Cassandra's expected 1.0 and 22.03 read here as
 * 1.0 / ln 10 and 22.03 / ln 10. */
TEST(exponential_matches_cassandra_arrival_window) {
  vigil_detector_config c;
  vigil_detector_config_init(&c);
  c.model = VIGIL_MODEL_EXPONENTIAL;
  c.max_samples = 4;
  c.min_mean = 0;
  vigil_detector d;
  CHECK_INT(vigil_detector_init(&d, &c), VIGIL_OK);
  for (int i = 1; i <= 5; i++) vigil_detector_heartbeat(&d, MS(111 * i));
  CHECK_NEAR(vigil_detector_phi(&d, MS(666)) * log(10), 1.0, 0.01);
  CHECK_NEAR(vigil_detector_phi(&d, MS(3000)) * log(10), 22.03, 0.01);
  vigil_detector_free(&d);
}

TEST(exponential_is_zero_until_two_heartbeats_and_floors_the_mean) {
  vigil_detector_config c;
  vigil_detector_config_init(&c);
  c.model = VIGIL_MODEL_EXPONENTIAL;
  CHECK_INT(vigil_detector_config_window(&c), 100);
  vigil_detector d;
  vigil_detector_init(&d, &c);
  CHECK_NEAR(vigil_detector_phi(&d, MS(10)), 0.0, 0);
  vigil_detector_heartbeat(&d, MS(10));
  CHECK_INT(vigil_detector_is_monitoring(&d), 1);
  CHECK_NEAR(vigil_detector_phi(&d, MS(100000)), 0.0, 0);
  vigil_detector_heartbeat(&d, MS(110)); /* mean 100 ms, floored at 1 s */
  CHECK_NEAR(vigil_detector_phi(&d, MS(110) + 10 * VIGIL_SEC), 10.0 / log(10), 1e-9);
  vigil_detector_free(&d);
}

TEST(config_defaults_are_documented_values) {
  vigil_detector_config c;
  vigil_detector_config_init(&c);
  CHECK_INT(c.model, VIGIL_MODEL_NORMAL);
  CHECK_NEAR(c.threshold, 8.0, 0);
  CHECK_INT(vigil_detector_config_window(&c), 1000);
  CHECK_INT(c.min_std_dev, MS(100));
  CHECK_INT(c.acceptable_pause, 2 * VIGIL_SEC);
  CHECK_INT(c.first_estimate, MS(200));
  CHECK_INT(c.min_mean, VIGIL_SEC);
  CHECK(c.refused);
  CHECK_INT(vigil_detector_config_check(&c, NULL), VIGIL_OK);
}

TEST(config_check_names_the_bad_field) {
  vigil_detector_config c;
  const char *why = NULL;
  vigil_detector_config_init(&c);
  c.threshold = -1;
  CHECK_INT(vigil_detector_config_check(&c, &why), VIGIL_EINVAL);
  CHECK(why && strstr(why, "threshold"));
  c.threshold = NAN;
  CHECK_INT(vigil_detector_config_check(&c, &why), VIGIL_EINVAL);
  vigil_detector_config_init(&c);
  c.max_samples = VIGIL_MAX_SAMPLES_LIMIT + 1;
  CHECK_INT(vigil_detector_config_check(&c, &why), VIGIL_EINVAL);
  CHECK(strstr(why, "max_samples"));
  vigil_detector_config_init(&c);
  c.min_std_dev = 0;
  CHECK_INT(vigil_detector_config_check(&c, &why), VIGIL_EINVAL);
  CHECK(strstr(why, "min_std_dev"));
  vigil_detector_config_init(&c);
  c.model = (vigil_model)7;
  CHECK_INT(vigil_detector_config_check(&c, &why), VIGIL_EINVAL);
  CHECK(strstr(why, "model"));
  vigil_detector d;
  CHECK_INT(vigil_detector_init(&d, &c), VIGIL_EINVAL);
}

TEST(a_sample_costs_at_most_8_bytes) {
  vigil_detector d;
  CHECK(sizeof d.window[0] <= 8);
  CHECK(sizeof(vigil_detector) <= 144);
}

/* A detector fed 100 heartbeats 200 ms apart, with this acceptable pause:
 * is phi still under 8 after `spared` of silence, and 8 or more after
 * `convicted`? */
static bool silent_200ms_peer(vigil_time pause, vigil_time spared, vigil_time convicted) {
  vigil_detector_config c;
  vigil_detector_config_init(&c);
  if (pause != UINT64_MAX) c.acceptable_pause = pause;
  vigil_detector d;
  vigil_detector_init(&d, &c);
  vigil_time t = 0;
  for (int i = 0; i < 100; i++) vigil_detector_heartbeat(&d, t += MS(200));
  bool ok = vigil_detector_phi(&d, t + spared) < 8 && vigil_detector_phi(&d, t + convicted) >= 8;
  vigil_detector_free(&d);
  return ok;
}

TEST(default_config_rides_out_a_2s_stall_and_convicts_a_silent_200ms_peer_by_3s) {
  /* The agent's documented default: 200 ms heartbeats; a peer stalled for
   * 2 s (its silence is up to 2.2 s: the stall plus the interval it was
   * in) is spared, a silent one convicted after ~2.76 s. */
  CHECK(silent_200ms_peer(UINT64_MAX, MS(2200), MS(2800)));
  CHECK(silent_200ms_peer(UINT64_MAX, MS(2600), MS(2800)));
}

TEST(the_200ms_profile_convicts_a_silent_200ms_peer_within_a_second) {
  /* acceptable_pause 200 ms: convicted after ~0.92 s of silence, two lost
   * heartbeats (600 ms) tolerated. */
  CHECK(silent_200ms_peer(MS(200), MS(600), MS(950)));
  CHECK(silent_200ms_peer(MS(200), MS(800), MS(950)));
}

TEST(deadline_is_the_first_nanosecond_phi_reaches_the_threshold) {
  vigil_detector_config c;
  vigil_detector_config_init(&c);
  c.acceptable_pause = MS(200);
  vigil_detector d;
  vigil_detector_init(&d, &c);
  CHECK_INT(vigil_detector_deadline(&d), UINT64_MAX);
  vigil_time t = 0;
  for (int i = 0; i < 50; i++) vigil_detector_heartbeat(&d, t += MS(200) + (vigil_time)(i % 5) * MS(3));
  vigil_time dl = vigil_detector_deadline(&d);
  CHECK(vigil_detector_phi(&d, dl - 1) < 8.0);
  CHECK(vigil_detector_phi(&d, dl) >= 8.0);
  CHECK(vigil_detector_is_available(&d, dl - 1));
  CHECK(!vigil_detector_is_available(&d, dl));
  CHECK(dl > t + MS(800) && dl < t + MS(1000));
  vigil_detector_free(&d);
  /* Exponential: never before two heartbeats. */
  c.model = VIGIL_MODEL_EXPONENTIAL;
  vigil_detector_init(&d, &c);
  vigil_detector_heartbeat(&d, MS(1));
  CHECK_INT(vigil_detector_deadline(&d), UINT64_MAX);
  vigil_detector_heartbeat(&d, MS(2));
  dl = vigil_detector_deadline(&d); /* mean floored at 1 s: 8 ln 10 s */
  CHECK_NEAR((double)(dl - MS(2)) / 1e9, 8 * log(10), 1e-6);
  vigil_detector_free(&d);
}

TEST(availability_agrees_with_phi_everywhere) {
  /* The cached horizon is a shortcut: it must never disagree with phi.
   * Sweep thresholds (including ones below phi's value at the mean, where
   * the crossing lies before mu) and silences around each boundary. */
  static const double thresholds[] = {0.05, 0.2, 0.301, 1, 3, 8, 12.5, 30, 300};
  int disagreements = 0, checked = 0;
  for (int model = 0; model < 2; model++) {
    for (size_t k = 0; k < sizeof thresholds / sizeof thresholds[0]; k++) {
      vigil_detector_config c;
      vigil_detector_config_init(&c);
      c.model = (vigil_model)model;
      c.threshold = thresholds[k];
      c.min_mean = MS(50);
      vigil_detector d;
      vigil_detector_init(&d, &c);
      vigil_time t = 0;
      unsigned seed = 7;
      for (int i = 0; i < 300; i++) {
        seed = seed * 1103515245u + 12345u;
        t += MS(180) + (vigil_time)(seed % 40000u) * 1000u;
        vigil_detector_heartbeat(&d, t);
      }
      vigil_time dl = vigil_detector_deadline(&d);
      for (long off = -2000; off <= 2000; off += 7) {
        vigil_time at = (vigil_time)((long long)dl + off);
        if (dl == UINT64_MAX) at = t + (vigil_time)(off + 2000) * MS(1);
        bool avail = vigil_detector_is_available(&d, at);
        disagreements += avail != (vigil_detector_phi(&d, at) < c.threshold);
        checked++;
      }
      for (vigil_time at = t; at < t + 60 * VIGIL_SEC; at += MS(37)) {
        disagreements += vigil_detector_is_available(&d, at) != (vigil_detector_phi(&d, at) < c.threshold);
        checked++;
      }
      vigil_detector_free(&d);
    }
  }
  CHECK_INT(disagreements, 0);
  CHECK(checked > 10000);
}

TEST(a_threshold_change_applies_to_a_detector_at_once) {
  vigil_detector_config c;
  vigil_detector_config_init(&c);
  c.acceptable_pause = MS(200);
  vigil_detector d;
  vigil_detector_init(&d, &c);
  vigil_time t = 0;
  for (int i = 0; i < 20; i++) vigil_detector_heartbeat(&d, t += MS(200));
  vigil_time at = t + MS(700);
  CHECK(vigil_detector_is_available(&d, at));
  c.threshold = 1.0; /* the config is shared: no refresh call needed */
  CHECK(!vigil_detector_is_available(&d, at));
  CHECK(vigil_detector_deadline(&d) < at);
  vigil_detector_free(&d);
}

int main(int argc, char **argv) {
  CHECK_ARGS(argc, argv);
  RUN(normal_cdf_is_good_enough);
  RUN(normal_formula_is_akkas_to_the_last_digits);
  RUN(normal_handles_outliers_without_losing_precision);
  RUN(normal_returns_realistic_phi_values);
  RUN(phi_is_zero_and_not_monitoring_before_any_heartbeat);
  RUN(phi_is_based_on_the_first_estimate_after_one_heartbeat);
  RUN(phi_uses_the_first_interval_after_the_second_heartbeat);
  RUN(is_monitoring_after_a_series_of_heartbeats);
  RUN(is_unavailable_when_heartbeats_are_missed);
  RUN(is_available_again_when_heartbeats_resume_after_a_failure);
  RUN(accepts_the_configured_missing_heartbeats);
  RUN(fails_after_the_configured_acceptable_missing_heartbeats);
  RUN(uses_at_most_max_samples_intervals);
  RUN(window_mean_and_variance_are_correct);
  RUN(window_variance_is_zero_for_one_sample);
  RUN(window_is_capped_by_max_samples);
  RUN(running_sums_stay_exact_over_millions_of_heartbeats);
  RUN(intervals_clamp_at_the_storage_limit);
  RUN(a_heartbeat_from_the_past_is_ignored);
  RUN(reset_forgets_everything);
  RUN(exponential_matches_cassandra_arrival_window);
  RUN(exponential_is_zero_until_two_heartbeats_and_floors_the_mean);
  RUN(config_defaults_are_documented_values);
  RUN(config_check_names_the_bad_field);
  RUN(a_sample_costs_at_most_8_bytes);
  RUN(default_config_rides_out_a_2s_stall_and_convicts_a_silent_200ms_peer_by_3s);
  RUN(the_200ms_profile_convicts_a_silent_200ms_peer_within_a_second);
  RUN(deadline_is_the_first_nanosecond_phi_reaches_the_threshold);
  RUN(availability_agrees_with_phi_everywhere);
  RUN(a_threshold_change_applies_to_a_detector_at_once);
  return CHECK_DONE();
}
