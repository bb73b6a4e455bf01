/* A fast synthetic vote generator for the analysis benchmark's big sizes (scripts/bench/analysis).
 *
 *   gen_votes PARTICIPANTS STATEMENTS AVG_VOTES SEED OUT.csv PLANTED.bin
 *
 * The shape of analysis_bench.py's generator, in C so that 99 million votes take seconds: three
 * planted groups (50/30/20 %, shuffled over participant ids), half the statements divisive (each
 * group's agree probability drawn from Beta(0.4, 0.4)), the others shared (Beta(2, 2) jittered by
 * N(0, 0.05) per group), a log-normal number of votes per participant (sigma 0.6, mean AVG_VOTES,
 * clipped to 1…STATEMENTS), distinct statements per participant, 15 % passes. Lines are
 * `participant,statement,vote`, sorted by (participant, statement), after a header line.
 * PLANTED.bin gets one byte per participant: its planted group. Deterministic for a seed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state;
static uint64_t next64(void) { /* splitmix64 */
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform(void) { return (double)(next64() >> 11) * 0x1.0p-53; }
static double normal(void) {
    double u = uniform(), v = uniform();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}
static double gamma_draw(double a) { /* Marsaglia–Tsang; a < 1 boosted */
    if (a < 1) {
        double u = uniform();
        if (u < 1e-300) u = 1e-300;
        return gamma_draw(a + 1) * pow(u, 1 / a);
    }
    double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = normal(), v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = uniform();
        if (u < 1 - 0.0331 * x * x * x * x) return d * v;
        if (log(u) < 0.5 * x * x + d * (1 - v + log(v))) return d * v;
    }
}
static double beta_draw(double a, double b) {
    double x = gamma_draw(a), y = gamma_draw(b);
    return x + y > 0 ? x / (x + y) : 0.5;
}
static int compare_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static char *buffer;
static size_t used;
enum { BUFFER = 1 << 24 };
static FILE *out;
static void flush_if_full(void) {
    if (used > BUFFER - 64) {
        fwrite(buffer, 1, used, out);
        used = 0;
    }
}
static void put_uint(uint64_t v) {
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k) buffer[used++] = tmp[--k];
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: gen_votes PARTICIPANTS STATEMENTS AVG_VOTES SEED OUT.csv PLANTED.bin\n");
        return 2;
    }
    long n = atol(argv[1]), m = atol(argv[2]);
    double avg = atof(argv[3]);
    state = strtoull(argv[4], NULL, 10) * 0x2545F4914F6CDD1Dull + 1;
    if (n <= 0 || m <= 0 || avg <= 0) return 2;
    out = fopen(argv[5], "wb");
    FILE *planted_file = fopen(argv[6], "wb");
    if (!out || !planted_file) {
        perror("gen_votes");
        return 1;
    }
    /* Planted groups: exact shares, shuffled (Fisher–Yates). */
    unsigned char *planted = malloc((size_t)n);
    long first = lround(0.5 * n), second = lround(0.3 * n);
    for (long i = 0; i < n; i++) planted[i] = i < first ? 0 : i < first + second ? 1 : 2;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(next64() % (uint64_t)(i + 1));
        unsigned char t = planted[i];
        planted[i] = planted[j];
        planted[j] = t;
    }
    fwrite(planted, 1, (size_t)n, planted_file);
    fclose(planted_file);
    /* Agree probability of each group on each statement. */
    double *profile = malloc(sizeof(double) * 3 * (size_t)m);
    for (long j = 0; j < m; j++) {
        if (uniform() < 0.5) {
            for (int g = 0; g < 3; g++) profile[g * m + j] = beta_draw(0.4, 0.4);
        } else {
            double shared = beta_draw(2, 2);
            for (int g = 0; g < 3; g++) {
                double p = shared + 0.05 * normal();
                profile[g * m + j] = p < 0.01 ? 0.01 : p > 0.99 ? 0.99 : p;
            }
        }
    }
    buffer = malloc(BUFFER);
    const char *header = "participant,statement,vote\n";
    memcpy(buffer, header, strlen(header));
    used = strlen(header);
    double sigma = 0.6, mu = log(avg) - sigma * sigma / 2;
    int *chosen = malloc(sizeof(int) * (size_t)m);
    unsigned char *taken = calloc((size_t)m, 1);
    long total = 0;
    for (long i = 0; i < n; i++) {
        long count = lround(exp(mu + sigma * normal()));
        if (count < 1) count = 1;
        if (count > m) count = m;
        int k = 0;
        if (count * 2 > m) { /* dense row: a partial shuffle */
            for (long j = 0; j < m; j++) chosen[j] = (int)j;
            for (k = 0; k < count; k++) {
                long r = k + (long)(next64() % (uint64_t)(m - k));
                int t = chosen[k];
                chosen[k] = chosen[r];
                chosen[r] = t;
            }
        } else {
            while (k < count) {
                int j = (int)(next64() % (uint64_t)m);
                if (taken[j]) continue;
                taken[j] = 1;
                chosen[k++] = j;
            }
            for (int t = 0; t < k; t++) taken[chosen[t]] = 0;
        }
        qsort(chosen, (size_t)k, sizeof(int), compare_int);
        const double *row = profile + planted[i] * m;
        for (int t = 0; t < k; t++) {
            int j = chosen[t];
            int vote = uniform() < 0.15 ? 0 : uniform() < row[j] ? 1 : -1;
            put_uint((uint64_t)i);
            buffer[used++] = ',';
            put_uint((uint64_t)j);
            buffer[used++] = ',';
            if (vote < 0) buffer[used++] = '-';
            buffer[used++] = (char)('0' + (vote < 0 ? 1 : vote));
            buffer[used++] = '\n';
            flush_if_full();
        }
        total += k;
    }
    fwrite(buffer, 1, used, out);
    if (fclose(out) != 0) {
        perror("gen_votes");
        return 1;
    }
    printf("%ld\n", total);
    return 0;
}
