/*
 * vectors.h - read the test vectors of docs/PROTOCOL.md (the ```vector NAME
 * blocks of hex) for test_frame and for the fuzzer's seed corpus.
 */
#ifndef VIGIL_VECTORS_H
#define VIGIL_VECTORS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil.h"

typedef struct vector {
  char name[64];
  uint8_t bytes[VIGIL_FRAME_MAX];
  size_t len;
} vector;

/* Read every ```vector NAME block of docs/PROTOCOL.md. */
static int load_vectors(const char *path, vector *v, int max) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[512];
  int n = -1;
  bool in = false;
  while (fgets(line, sizeof line, f)) {
    if (!in && strncmp(line, "```vector ", 10) == 0 && n + 1 < max) {
      n++;
      sscanf(line + 10, "%63s", v[n].name);
      v[n].len = 0;
      in = true;
    } else if (in && strncmp(line, "```", 3) == 0) {
      in = false;
    } else if (in) {
      for (char *p = strtok(line, " \n"); p; p = strtok(NULL, " \n"))
        if (v[n].len < sizeof v[n].bytes) v[n].bytes[v[n].len++] = (uint8_t)strtoul(p, NULL, 16);
    }
  }
  fclose(f);
  return n + 1;
}

#endif
