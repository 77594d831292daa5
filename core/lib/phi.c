/*
 * phi.c - the phi-accrual failure detector (Hayashibara et al. 2004).
 *
 * Owns: one peer's window of heartbeat inter-arrival intervals and the
 * arithmetic that turns "time since the last heartbeat" into phi, the
 * suspicion that the peer has failed (phi = -log10 P(a heartbeat still
 * comes later than this)).
 *
 * Must never: read a clock, allocate after init, or take more than O(1) per
 * heartbeat or per phi. Time is always the caller's `now`.
 *
 * Two models:
 *
 *   normal (default), Akka's PhiAccrualFailureDetector exactly: intervals are
 *   assumed normally distributed with the window's mean (plus an acceptable
 *   pause) and standard deviation (floored at min_std_dev), and the normal
 *   CDF is replaced by its logistic approximation (Bowling et al. 2009),
 *   which is accurate to 1.4e-4 and needs one exp() instead of erfc().
 *   The first heartbeat seeds the window with first_estimate -/+ 25 %, so a
 *   peer heard once and never again is still convicted.
 *
 *   exponential, Cassandra's ArrivalWindow: intervals are assumed
 *   exponential, so P(later than t) = exp(-t / mean) and phi = t / (mean ln 10).
 *   The mean is floored at min_mean; phi stays 0 until the window holds an
 *   interval (two heartbeats). Cassandra leaves the ln 10 to its caller
 *   (PHI_FACTOR); here it is inside, so both models share one threshold scale.
 *
 * Both models admit a new interval into the window only if the peer was
 * available (phi < threshold) when the heartbeat arrived: the first heartbeat
 * after an outage must not teach the detector that outages are normal.
 *
 * Storage: intervals are kept as 32-bit microseconds (4 bytes a sample,
 * intervals clamp at ~71 minutes), with a 64-bit running sum and an exact
 * 128-bit running sum of squares, so mean and variance are O(1) and never
 * drift however long the agent runs.
 *
 * Speed: phi is monotonic in the silence, so for a given window and
 * threshold there is one silence, the horizon, at which phi reaches the
 * threshold. Each heartbeat recomputes it (a sqrt, no exp or log: for the
 * normal model phi depends on y = (t - mu) / sigma alone, and the y where it
 * meets the threshold is solved once per threshold). Judging a peer is then
 * a comparison; the exact phi is computed only within a hair of the
 * horizon, so the answer is always the one phi itself would give.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WINDOW_INITIAL 16 /* intervals allocated at first; doubled as needed */

#define LN10                       2.30258509299404568402
#define DEFAULT_WINDOW_NORMAL      1000u
#define DEFAULT_WINDOW_EXPONENTIAL 100u

void vigil_detector_config_init(vigil_detector_config *cfg) {
  cfg->model = VIGIL_MODEL_NORMAL;
  cfg->threshold = 8.0;
  cfg->max_samples = 0;
  cfg->min_std_dev = 100 * VIGIL_MS;
  cfg->acceptable_pause = 2 * VIGIL_SEC;
  cfg->first_estimate = 200 * VIGIL_MS;
  cfg->min_mean = VIGIL_SEC;
  cfg->refused = true;
}

int vigil_detector_config_check(const vigil_detector_config *cfg, const char **why) {
  const char *bad = NULL;
  if (cfg->model != VIGIL_MODEL_NORMAL && cfg->model != VIGIL_MODEL_EXPONENTIAL)
    bad = "model must be normal or exponential";
  else if (!(cfg->threshold > 0) || !isfinite(cfg->threshold))
    bad = "threshold must be a finite number > 0";
  else if (cfg->max_samples > VIGIL_MAX_SAMPLES_LIMIT)
    bad = "max_samples must be at most 65536";
  else if (cfg->model == VIGIL_MODEL_NORMAL && cfg->min_std_dev < 1000)
    bad = "min_std_dev must be at least 1 microsecond";
  else if (cfg->model == VIGIL_MODEL_NORMAL && cfg->first_estimate < 1000)
    bad = "first_estimate must be at least 1 microsecond";
  else if (cfg->first_estimate > VIGIL_MAX_INTERVAL / 2)
    bad = "first_estimate must be at most 35 minutes";
  else if (cfg->acceptable_pause > VIGIL_MAX_INTERVAL)
    bad = "acceptable_pause must be at most 71 minutes";
  else if (cfg->min_std_dev > VIGIL_MAX_INTERVAL)
    bad = "min_std_dev must be at most 71 minutes";
  else if (cfg->min_mean > VIGIL_MAX_INTERVAL)
    bad = "min_mean must be at most 71 minutes";
  if (bad && why) *why = bad;
  return bad ? VIGIL_EINVAL : VIGIL_OK;
}

uint32_t vigil_detector_config_window(const vigil_detector_config *cfg) {
  if (cfg->max_samples) return cfg->max_samples;
  return cfg->model == VIGIL_MODEL_EXPONENTIAL ? DEFAULT_WINDOW_EXPONENTIAL : DEFAULT_WINDOW_NORMAL;
}

int vigil_detector_init(vigil_detector *d, const vigil_detector_config *cfg) {
  memset(d, 0, sizeof *d);
  if (vigil_detector_config_check(cfg, NULL) != VIGIL_OK) return VIGIL_EINVAL;
  d->cfg = cfg;
  d->cap = vigil_detector_config_window(cfg);
  /* The window is allocated at the first interval and grows as intervals
   * arrive (doubling, up to cap): a peer never heard twice costs nothing,
   * one heard a few times 64 bytes, not 4 KiB. In a large cluster an
   * agent hears most members only through others, and a simulator runs
   * thousands of agents that each know thousands. */
  d->alloc = 0;
  d->window = NULL;
  d->y_star_for = NAN;
  vigil__detector_refresh(d);
  return VIGIL_OK;
}

void vigil_detector_free(vigil_detector *d) {
  free(d->window);
  d->window = NULL;
  d->cap = d->alloc = d->len = 0;
}

void vigil_detector_reset(vigil_detector *d) {
  d->len = d->head = 0;
  d->sum = d->sumsq_hi = d->sumsq_lo = 0;
  d->mean_us = d->sd_us = 0;
  d->last = 0;
  d->heartbeats = 0;
  vigil__detector_refresh(d);
}

bool vigil_detector_is_monitoring(const vigil_detector *d) { return d->heartbeats > 0; }

uint32_t vigil_detector_samples(const vigil_detector *d) { return d->len; }

/* 128-bit running sum of squares: add or subtract one 64-bit square. */
static void phi__sq_add(vigil_detector *d, uint64_t sq) {
  uint64_t lo = d->sumsq_lo + sq;
  d->sumsq_hi += lo < d->sumsq_lo;
  d->sumsq_lo = lo;
}

static void phi__sq_sub(vigil_detector *d, uint64_t sq) {
  d->sumsq_hi -= d->sumsq_lo < sq;
  d->sumsq_lo -= sq;
}

/* Window mean and variance in microseconds (and us^2). */
static double phi__mean_us(const vigil_detector *d) { return d->len ? (double)d->sum / d->len : 0.0; }

static double phi__variance_us(const vigil_detector *d) {
  if (!d->len) return 0.0;
  double mean = phi__mean_us(d);
  double sumsq = ldexp((double)d->sumsq_hi, 64) + (double)d->sumsq_lo;
  double var = sumsq / d->len - mean * mean;
  return var > 0 ? var : 0.0;
}

/* Exponential model: the window mean floored at min_mean and at 1 us. */
static double phi__exp_mean_us(const vigil_detector *d) {
  double mean = d->mean_us;
  double floor_us = (double)d->cfg->min_mean / 1e3;
  if (mean < floor_us) mean = floor_us;
  return mean < 1.0 ? 1.0 : mean;
}

/* Normal model: mu = window mean + acceptable pause; sigma = window standard
 * deviation floored at min_std_dev. */
static double phi__normal_mu_us(const vigil_detector *d) { return d->mean_us + (double)d->cfg->acceptable_pause / 1e3; }

static double phi__normal_sigma_us(const vigil_detector *d) {
  double min_sd = (double)d->cfg->min_std_dev / 1e3;
  return d->sd_us < min_sd ? min_sd : d->sd_us;
}

vigil_time vigil__detector_overdue(const vigil_detector *d) {
  double mean_us = d->len ? d->mean_us : (double)d->cfg->first_estimate / 1e3;
  return (vigil_time)((mean_us + phi__normal_sigma_us(d)) * 1e3);
}

/* Make room for one more interval before the window is at its size: the
 * allocation doubles. Until then the ring has never wrapped (head is 0),
 * so realloc keeps the order. When memory runs out the window stays at
 * the size it has, for good. */
static void phi__grow(vigil_detector *d) {
  uint32_t want = d->alloc ? d->alloc * 2 : WINDOW_INITIAL;
  if (want > d->cap) want = d->cap;
  uint32_t *w = realloc(d->window, (size_t)want * sizeof *w);
  if (!w) {
    d->cap = d->alloc;
    return;
  }
  d->window = w;
  d->alloc = want;
}

/* Append an interval (microseconds), evicting the oldest when full. */
static void phi__push(vigil_detector *d, uint32_t us) {
  if (d->cap == 0) return;
  if (d->len == d->alloc && d->alloc < d->cap) phi__grow(d);
  if (d->alloc == 0) return; /* out of memory before the first interval */
  if (d->len == d->alloc) {
    uint32_t old = d->window[d->head];
    d->sum -= old;
    phi__sq_sub(d, (uint64_t)old * old);
    d->window[d->head] = us;
    d->head = d->head + 1 == d->alloc ? 0 : d->head + 1;
  } else {
    uint32_t at = d->head + d->len;
    if (at >= d->alloc) at -= d->alloc;
    d->window[at] = us;
    d->len++;
  }
  d->sum += us;
  phi__sq_add(d, (uint64_t)us * us);
  d->mean_us = phi__mean_us(d);
  d->sd_us = sqrt(phi__variance_us(d));
}

static uint32_t phi__to_us(vigil_time ns) {
  vigil_time us = (ns + 500) / 1000;
  return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

double vigil_detector_mean(const vigil_detector *d) { return phi__mean_us(d) * 1e3; }

double vigil_detector_variance(const vigil_detector *d) { return phi__variance_us(d) * 1e6; }

double vigil_phi_normal(double t, double mean, double sd) {
  double y = (t - mean) / sd;
  double k = y * (1.5976 + 0.070566 * y * y);
  if (t > mean) {
    /* -log10(e / (1 + e)) with e = exp(-k), written as (k + log1p(e)) / ln 10
     * so that it stays finite (and exact) where e underflows. */
    return (k + log1p(exp(-k))) / LN10;
  }
  double e = exp(-k);
  return -log10(1.0 - 1.0 / (1.0 + e));
}

/* phi for a silence of elapsed_us microseconds, with the window as it is. */
static double phi__of_elapsed(const vigil_detector *d, double elapsed_us) {
  const vigil_detector_config *cfg = d->cfg;
  if (cfg->model == VIGIL_MODEL_EXPONENTIAL) {
    if (d->len == 0) return 0.0;
    return elapsed_us / (phi__exp_mean_us(d) * LN10);
  }
  double phi = vigil_phi_normal(elapsed_us, phi__normal_mu_us(d), phi__normal_sigma_us(d));
  return phi > 0 ? phi : 0.0; /* -0.0 and rounding below zero read as 0 */
}

static double phi__elapsed_us(const vigil_detector *d, vigil_time since, vigil_time now) {
  vigil_time from = d->last > since ? d->last : since;
  return now > from ? (double)(now - from) / 1e3 : 0.0;
}

double vigil_detector_phi_since(const vigil_detector *d, vigil_time since, vigil_time now) {
  if (d->heartbeats == 0) return 0.0;
  return phi__of_elapsed(d, phi__elapsed_us(d, since, now));
}

double vigil_detector_phi(const vigil_detector *d, vigil_time now) { return vigil_detector_phi_since(d, 0, now); }

/* The y at which the normal model's phi equals `threshold`. phi is
 * monotonic in y, so bisection is exact to the last bit; it runs once per
 * threshold per detector. */
double vigil__phi_y_star(double threshold) {
  double lo = -64.0, hi = 1e6;
  if (vigil_phi_normal(hi, 0, 1) < threshold) return INFINITY;
  for (int i = 0; i < 200 && hi - lo > 1e-12 * (fabs(lo) + 1); i++) {
    double mid = 0.5 * (lo + hi);
    if (vigil_phi_normal(mid, 0, 1) < threshold)
      lo = mid;
    else
      hi = mid;
  }
  return hi;
}

void vigil__detector_refresh(vigil_detector *d) {
  double threshold = d->cfg->threshold;
  double h = INFINITY;
  if (d->heartbeats == 0) {
    h = INFINITY; /* phi stays 0 until the first heartbeat */
  } else if (d->cfg->model == VIGIL_MODEL_EXPONENTIAL) {
    if (d->len) h = threshold * phi__exp_mean_us(d) * LN10 * 1e3;
  } else {
    if (d->y_star_for != threshold) {
      d->y_star = vigil__phi_y_star(threshold);
      d->y_star_for = threshold;
    }
    h = (phi__normal_mu_us(d) + d->y_star * phi__normal_sigma_us(d)) * 1e3;
    if (h < 0) h = 0;
  }
  d->horizon = h;
  d->horizon_for = threshold;
}

int vigil__detector_cmp(const vigil_detector *d, vigil_time since, vigil_time now) {
  double threshold = d->cfg->threshold;
  if (d->heartbeats == 0) return 0.0 < threshold ? -1 : 0;
  vigil_time from = d->last > since ? d->last : since;
  double elapsed = now > from ? (double)(now - from) : 0.0;
  if (d->horizon_for == threshold) {
    /* Far from the boundary the cached horizon decides; within a hair of
     * it (rounding of the cached value) the exact phi does. */
    double band = 1.0 + 1e-9 * d->horizon;
    if (elapsed < d->horizon - band) return -1;
    if (elapsed > d->horizon + band) return 1;
  }
  double phi = phi__of_elapsed(d, elapsed / 1e3);
  return phi < threshold ? -1 : phi > threshold ? 1 : 0;
}

bool vigil_detector_is_available(const vigil_detector *d, vigil_time now) { return vigil__detector_cmp(d, 0, now) < 0; }

vigil_time vigil_detector_deadline(const vigil_detector *d) {
  if (d->heartbeats == 0) return UINT64_MAX;
  vigil_detector tmp = *d; /* refresh a copy: this accessor is const */
  if (tmp.horizon_for != d->cfg->threshold) vigil__detector_refresh(&tmp);
  if (!isfinite(tmp.horizon) || tmp.horizon >= (double)(UINT64_MAX - d->last) - 2) return UINT64_MAX;
  /* Walk from the estimate to the first nanosecond where phi >= threshold. */
  vigil_time t = d->last + (vigil_time)tmp.horizon;
  while (t > d->last && vigil__detector_cmp(&tmp, 0, t - 1) >= 0) t--;
  while (vigil__detector_cmp(&tmp, 0, t) < 0) t++;
  return t;
}

void vigil_detector_heartbeat(vigil_detector *d, vigil_time now) {
  if (d->heartbeats == 0) {
    if (d->cfg->model == VIGIL_MODEL_NORMAL) {
      vigil_time est = d->cfg->first_estimate;
      phi__push(d, phi__to_us(est - est / 4));
      phi__push(d, phi__to_us(est + est / 4));
    }
    d->last = now;
    d->heartbeats = 1;
    vigil__detector_refresh(d);
    return;
  }
  if (now < d->last) return; /* stamped before the latest: ignore */
  if (d->horizon_for != d->cfg->threshold) vigil__detector_refresh(d);
  if (vigil__detector_cmp(d, 0, now) < 0) phi__push(d, phi__to_us(now - d->last));
  d->last = now;
  d->heartbeats++;
  vigil__detector_refresh(d);
}
