/* The training step of imagination.train_ensemble for the paper's network shape, in C.

   Private to imagination._ensemble_kernel, which compiles it on first use (one shared library
   per shape: -DDIN1=, -DH=, -DDOUT=) and falls back to the torch step where it cannot.

   M independent two-layer MLPs, x -> relu(x W0 + b0) -> W1 . + b1 (-> tanh), a squared loss,
   Adam; the layout of imagination._ensemble_step._FlatMLP: one flat float32 buffer holding
   W0 with b0 folded in as its last input row, (M, DIN1, H), then W1 transposed, (M, DOUT, H),
   then b1, (M, DOUT); the gradient and Adam's two moments in three more buffers alike.

   Members never interact, so a call trains ONE member at a time through all of the epoch's
   steps: its parameters, moments, batch, activations and errors (about 100 kB at the paper's
   shape) stay in the core's L1/L2 cache, where the torch step streams (M, 256, 64) activations
   through memory some ten times a step. Products are blocked four or eight batch rows at a
   time, so each weight vector loaded serves as many multiply-adds. Everything is float32; the compiler may
   fuse a multiply and an add (one rounding instead of two). tanh is Cephes' tanhf, vectorised
   (within 1.4 units in the last place of the exact value; torch's own is within 0.6).

   Test builds: -DIMAGINATION_BUG=1 normalises the epoch's smaller last batch by the full batch
   size; -DIMAGINATION_BUG=2 makes W0's gradient 1 % too large on every other step. They exist
   so that tests/test_ensemble.py can show its equivalence checks catch a wrong gradient in
   this very code. */

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef DIN1
#error "compile with -DDIN1=<inputs + 1>"
#endif
#ifndef H
#error "compile with -DH=<hidden width, a multiple of 16>"
#endif
#ifndef DOUT
#error "compile with -DDOUT=<outputs, 1 to 16>"
#endif
#ifndef IMAGINATION_BUG
#define IMAGINATION_BUG 0
#endif

typedef float v16 __attribute__((vector_size(64), aligned(64)));
typedef int32_t v16i __attribute__((vector_size(64), aligned(64)));
#define HV (H / 16)
#define R1 8 /* rows per block of the output layer: eight independent multiply-add chains */
#define SEL(mask, a, b) ((v16)((((v16i)(a)) & (mask)) | (((v16i)(b)) & ~(mask))))

/* exp of 16 floats: Cephes' expf (range reduction by ln 2 in two parts, degree-5 polynomial) */
static inline v16 vexp(v16 x) {
    const v16 zero = {0};
    x = SEL(x < zero + 88.0f, x, zero + 88.0f);
    x = SEL(x > zero - 88.0f, x, zero - 88.0f);
    v16 t = x * 1.44269504088896341f + 0.5f;
    v16 fx = __builtin_convertvector(__builtin_convertvector(t, v16i), v16);
    fx = fx - SEL(fx > t, zero + 1.0f, zero); /* floor: the conversion truncates toward 0 */
    x = x - fx * 0.693359375f;
    x = x - fx * -2.12194440e-4f;
    v16 z = x * x;
    v16 y = ((((1.9875691500E-4f * x + 1.3981999507E-3f) * x + 8.3334519073E-3f) * x
              + 4.1665795894E-2f) * x + 1.6666665459E-1f) * x + 5.0000001201E-1f;
    y = y * z + x + 1.0f;
    v16i e = (__builtin_convertvector(fx, v16i) + 127) << 23;
    return y * (v16)e;
}

/* tanh of 16 floats: Cephes' tanhf, an odd polynomial below |x| = 0.625, else
   1 - 2 / (exp(2|x|) + 1) with the sign of x */
static inline v16 vtanh(v16 x) {
    const v16 zero = {0};
    v16i neg = x < zero;
    v16 ax = SEL(neg, -x, x);
    v16 big = 1.0f - 2.0f / (vexp(2.0f * ax) + 1.0f);
    big = SEL(neg, -big, big);
    v16 z = x * x;
    v16 small = ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z - 5.37397155531E-2f) * z
                  + 1.33314422036E-1f) * z - 3.33332819422E-1f) * z * x + x;
    return SEL(ax > zero + 0.625f, big, small);
}

/* torch.optim.Adam's update (no weight decay) of n parameters, as torch orders it:
   m.lerp_(g, 1 - beta1); v.mul_(beta2).addcmul_(g, g, 1 - beta2);
   p.addcdiv_(m, sqrt(v) / bc2_sqrt + eps, -step_size) */
static void adam(float *restrict p, const float *restrict g, float *restrict m,
                 float *restrict v, int64_t n, float one_minus_beta1, float beta2,
                 float one_minus_beta2, float eps, float step_size, float bc2_sqrt) {
    for (int64_t i = 0; i < n; i++) {
        float mi = m[i] + one_minus_beta1 * (g[i] - m[i]);
        float vi = v[i] * beta2 + one_minus_beta2 * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

/* The first `count` steps of an epoch for members 0..M-1 of a group.

   xpool (N, DIN1): inputs with a trailing 1; ypool (N, DOUT): targets; rows (M, n): each
   member's pool rows in this epoch's order (step s uses columns [s*batch, (s+1)*batch), the
   last batch may be smaller); flat, grad, exp_avg, exp_avg_sq: the group's buffers; step0:
   Adam steps taken so far; losses: member m's batch MSE of step s goes to losses[s*ld + m];
   work: at least kernel_work_floats(batch) floats, 64-byte aligned. */
void epoch_steps(const float *restrict xpool, const float *restrict ypool,
                 const int64_t *restrict rows, int64_t M, int64_t n, int64_t count,
                 int64_t batch, float *flat, float *grad, float *exp_avg, float *exp_avg_sq,
                 int64_t step0, double lr, double beta1, double beta2, double eps,
                 float *losses, int64_t ld, int tanh_out, float *work) {
    const int64_t nW0 = DIN1 * H, nW1 = DOUT * H, nb1 = DOUT;
    const int64_t rows8 = (batch + 7) & ~(int64_t)7;
    v16 *A = (v16 *)work;                           /* (rows8, H) hidden activations */
    float *X = (float *)(A + rows8 * HV);           /* (rows8, DIN1) the batch's inputs */
    float *Y = X + rows8 * DIN1;                    /* (rows8, DOUT) its targets */
    float *E = Y + rows8 * DOUT;                    /* (rows8, DOUT) dLoss/d(output) */
    /* offsets of a member's three blocks in the flat buffers */
    const int64_t o_W1 = M * nW0, o_b1 = M * (nW0 + nW1);
    for (int64_t m = 0; m < M; m++) {
        float *W0 = flat + m * nW0, *W1 = flat + o_W1 + m * nW1, *b1 = flat + o_b1 + m * nb1;
        float *gW0 = grad + m * nW0, *gW1 = grad + o_W1 + m * nW1, *gb1 = grad + o_b1 + m * nb1;
        for (int64_t s = 0; s < count; s++) {
            const int64_t start = s * batch;
            const int64_t B = batch < n - start ? batch : n - start;
            const int64_t B4 = (B + 3) & ~(int64_t)3; /* padded with zero rows */
            const int64_t *r = rows + m * n + start;
            for (int64_t i = 0; i < B; i++) {
                memcpy(X + i * DIN1, xpool + r[i] * DIN1, sizeof(float) * DIN1);
                memcpy(Y + i * DOUT, ypool + r[i] * DOUT, sizeof(float) * DOUT);
            }
            for (int64_t i = B; i < B4; i++) {
                memset(X + i * DIN1, 0, sizeof(float) * DIN1);
                memset(E + i * DOUT, 0, sizeof(float) * DOUT);
            }
            /* ---- forward, layer 0: A = relu(X W0), four rows at a time */
            const v16 *w0 = (const v16 *)W0;
            const v16 zero = {0};
            for (int64_t i = 0; i < B4; i += 4) {
                const float *x = X + i * DIN1;
                v16 acc[4][HV];
                for (int q = 0; q < 4; q++)
                    for (int h = 0; h < HV; h++) acc[q][h] = x[q * DIN1] * w0[h];
                for (int k = 1; k < DIN1; k++)
                    for (int q = 0; q < 4; q++)
                        for (int h = 0; h < HV; h++) acc[q][h] += x[q * DIN1 + k] * w0[k * HV + h];
                for (int q = 0; q < 4; q++)
                    for (int h = 0; h < HV; h++)
                        A[(i + q) * HV + h] = (v16)((v16i)acc[q][h] & (acc[q][h] > zero));
            }
            /* ---- forward, layer 1, the loss and its gradient E = dLoss/d(pre-activation):
               (2 / (B DOUT)) (pred - y), times 1 - pred^2 after a tanh */
            const v16 *w1 = (const v16 *)W1;
            const float scale = (float)(2.0 / (double)(B * DOUT));
            double loss = 0.0;
#if DOUT > 4
            /* the outputs along the lanes: W1 transposed into (H, 16), zero-padded; R1 rows
               at a time (rows past B are computed from stale memory and discarded) */
            v16 w1t[H], bias = {0}, sq = {0}, lanes = {0};
            for (int h = 0; h < H; h++) {
                v16 col = {0};
                for (int o = 0; o < DOUT; o++) col[o] = W1[o * H + h];
                w1t[h] = col;
            }
            for (int o = 0; o < DOUT; o++) {
                bias[o] = b1[o];
                lanes[o] = 1.0f;
            }
            for (int64_t i = 0; i < B; i += R1) {
                const int rmax = B - i < R1 ? (int)(B - i) : R1;
                const float *a = (const float *)(A + i * HV);
                v16 acc[R1];
                for (int q = 0; q < R1; q++) acc[q] = bias;
                for (int h = 0; h < H; h++)
                    for (int q = 0; q < R1; q++) acc[q] += a[q * H + h] * w1t[h];
                for (int q = 0; q < rmax; q++) {
                    v16 z = tanh_out ? vtanh(acc[q]) : acc[q], y = {0};
                    for (int o = 0; o < DOUT; o++) y[o] = Y[(i + q) * DOUT + o];
                    v16 d = (z - y) * lanes;
                    sq += d * d;
                    v16 e = scale * d;
                    if (tanh_out) e = e * (1.0f - z * z);
                    for (int o = 0; o < DOUT; o++) E[(i + q) * DOUT + o] = e[o];
                }
            }
            for (int q = 0; q < 16; q++) loss += sq[q];
#else
            /* one output or a few: a dot product per row and output */
            for (int64_t i = 0; i < B; i++) {
                for (int o = 0; o < DOUT; o++) {
                    v16 acc = A[i * HV] * w1[o * HV];
                    for (int h = 1; h < HV; h++) acc += A[i * HV + h] * w1[o * HV + h];
                    float z = b1[o];
                    for (int q = 0; q < 16; q++) z += acc[q];
                    if (tanh_out) z = tanhf(z);
                    const float d = z - Y[i * DOUT + o];
                    loss += (double)d * d;
                    float e = scale * d;
                    if (tanh_out) e *= 1.0f - z * z;
                    E[i * DOUT + o] = e;
                }
            }
#endif
            losses[s * ld + m] = (float)(loss / (double)(B * DOUT));
#if IMAGINATION_BUG == 1
            if (B < batch)
                for (int64_t i = 0; i < B; i++)
                    for (int o = 0; o < DOUT; o++) E[i * DOUT + o] *= (float)B / (float)batch;
#endif
            /* ---- backward, four rows at a time: the hidden error G (through the ReLU), and
               the weight gradients, each accumulator loaded once per four multiply-adds */
            v16 *gw0 = (v16 *)gW0, *gw1 = (v16 *)gW1;
            memset(gW0, 0, sizeof(float) * nW0);
            memset(gW1, 0, sizeof(float) * nW1);
            memset(gb1, 0, sizeof(float) * nb1);
            for (int64_t i = 0; i < B4; i += 4) {
                const float *e = E + i * DOUT, *x = X + i * DIN1;
                const v16 *a = A + i * HV;
                v16 g[4][HV];
                for (int q = 0; q < 4; q++) {
                    for (int h = 0; h < HV; h++) g[q][h] = e[q * DOUT] * w1[h];
                    for (int o = 1; o < DOUT; o++)
                        for (int h = 0; h < HV; h++) g[q][h] += e[q * DOUT + o] * w1[o * HV + h];
                    for (int h = 0; h < HV; h++)
                        g[q][h] = (v16)((v16i)g[q][h] & (a[q * HV + h] > zero));
                }
                for (int o = 0; o < DOUT; o++) {
                    gb1[o] += e[o] + e[DOUT + o] + e[2 * DOUT + o] + e[3 * DOUT + o];
                    for (int h = 0; h < HV; h++)
                        gw1[o * HV + h] += e[o] * a[h] + e[DOUT + o] * a[HV + h]
                                           + e[2 * DOUT + o] * a[2 * HV + h]
                                           + e[3 * DOUT + o] * a[3 * HV + h];
                }
                for (int k = 0; k < DIN1; k++)
                    for (int h = 0; h < HV; h++)
                        gw0[k * HV + h] += x[k] * g[0][h] + x[DIN1 + k] * g[1][h]
                                           + x[2 * DIN1 + k] * g[2][h] + x[3 * DIN1 + k] * g[3][h];
            }
            /* ---- Adam (bias corrections in double, as torch computes them in Python) */
            const int64_t step = step0 + s + 1;
#if IMAGINATION_BUG == 2
            if (step % 2 == 0)
                for (int64_t j = 0; j < nW0; j++) gW0[j] *= 1.01f;
#endif
            const float step_size = (float)(lr / (1.0 - pow(beta1, (double)step)));
            const float bc2_sqrt = (float)sqrt(1.0 - pow(beta2, (double)step));
            /* the scalars as torch casts its Python floats to float32 */
            const float c1 = (float)(1.0 - beta1), b2 = (float)beta2, c2 = (float)(1.0 - beta2);
            const float fe = (float)eps;
            adam(W0, gW0, exp_avg + m * nW0, exp_avg_sq + m * nW0, nW0, c1, b2, c2, fe,
                 step_size, bc2_sqrt);
            adam(W1, gW1, exp_avg + o_W1 + m * nW1, exp_avg_sq + o_W1 + m * nW1, nW1, c1, b2, c2,
                 fe, step_size, bc2_sqrt);
            adam(b1, gb1, exp_avg + o_b1 + m * nb1, exp_avg_sq + o_b1 + m * nb1, nb1, c1, b2, c2,
                 fe, step_size, bc2_sqrt);
        }
    }
}

/* floats of work epoch_steps needs for batches of at most `batch` rows */
int64_t kernel_work_floats(int64_t batch) {
    const int64_t rows8 = (batch + 7) & ~(int64_t)7;
    return rows8 * (H + DIN1 + 2 * DOUT) + 16;
}
