/*
 * seeds.c - write docs/PROTOCOL.md's test vectors into a directory, one
 * file each, as the fuzzer's seed corpus: `seeds PROTOCOL.md DIR`.
 */
#include "vectors.h"

int main(int argc, char **argv) {
  static vector v[32];
  if (argc != 3) {
    fprintf(stderr, "usage: seeds PROTOCOL.md DIR\n");
    return 2;
  }
  int n = load_vectors(argv[1], v, 32);
  if (n <= 0) {
    fprintf(stderr, "seeds: no vectors in %s\n", argv[1]);
    return 1;
  }
  for (int i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[2], v[i].name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v[i].bytes, 1, v[i].len, f) != v[i].len) {
      fprintf(stderr, "seeds: cannot write %s\n", path);
      return 1;
    }
    fclose(f);
  }
  printf("seeds: %d vectors written to %s\n", n, argv[2]);
  return 0;
}
