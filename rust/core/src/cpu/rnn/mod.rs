//! Fused recurrent layers (LSTM, GRU, Elman RNN) for one layer and one
//! direction, over a batch whose sequences may have different lengths.
//!
//! Layout (PyTorch's packed-sequence layout, which the equal-length case is a
//! special case of): the sequences are sorted by length, longest first, so
//! the sequences still running at time position `tp` are a prefix of the
//! batch, `bs[tp]` rows long; the rows of all time positions are stored one
//! after the other (`rows = Σ bs` rows of input, gates and outputs). An
//! equal-length (T, B, ·) tensor is the same thing with `bs = [B; T]`.
//!
//! Every kernel has the same shape:
//! * forward: the input projection of every row is one GEMM
//!   (`x @ W_ihᵀ`); then per step one recurrent product on the
//!   `bs[tp]` active rows (`h_prev @ W_hhᵀ`, W_hh packed once per call, see
//!   `recur.rs`) and one fused gate pass (which adds the biases). A running
//!   state buffer (B, H) holds every row's latest hidden (and cell) state,
//!   so rows that have finished
//!   keep their own last state: at the end it is h_n (c_n), and a reverse
//!   direction starts each sequence from h0 at its own last step.
//! * backward: per step (in reverse processing order) one fused pass turning
//!   dh (and dc) into pre-activation gate gradients and one recurrent product
//!   for dh_prev, again on the active rows only; then the weight and input
//!   gradients are big GEMMs over all rows (`weight_grads`).
//!
//! The LSTM (the layer issue 5 measures) goes further (`lstm.rs`): the batch
//! is split into row chunks that each run the whole recurrence on their own
//! rows, without a barrier between steps ([`Chunks`]); the input projection
//! rides in each step's product (`[x_t | h_prev] · [W_ih | W_hh]ᵀ`) and so
//! does dx backward (`dG · [W_ih | W_hh]`); the weight gradients are one GEMM
//! over `[x | h_prev]` (`weight_grads_cat`); the big buffers are written row
//! block by row block without a zero-fill pass first ([`Fresh`]).
//!
//! Gates are ordered as PyTorch's (i, f, g, o for LSTM; r, z, n for GRU),
//! each H wide, so one row's gate block is G·H contiguous values.

mod elman;
mod gru;
mod lstm;
pub mod recur;

pub use elman::{rnn_backward, rnn_forward};
pub use gru::{gru_backward, gru_forward, GruGrads, GruSaved};
pub use lstm::{lstm_backward, lstm_forward, LstmGrads, LstmOut};

use super::float::{Fma, Float};
use super::gemm::kernel::GemmElem;
use super::gemm::{gemm, MatRef};

/// The gate non-linearities: f64 through libm; f32 through the branch-free
/// exp of `fastmath.rs` that the compiler can inline and vectorise, since
/// libm's expf/tanhf dominated small recurrent layers.
pub trait Gate: Float + Fma + GemmElem {
    fn sig(self) -> Self;
    fn th(self) -> Self;
}

impl Gate for f64 {
    #[inline(always)]
    fn sig(self) -> f64 {
        1.0 / (1.0 + (-self).exp())
    }
    #[inline(always)]
    fn th(self) -> f64 {
        f64::tanh(self)
    }
}

use super::fastmath::exp_f32;

impl Gate for f32 {
    #[inline(always)]
    fn sig(self) -> f32 {
        1.0 / (1.0 + exp_f32(-self))
    }
    #[inline(always)]
    fn th(self) -> f32 {
        // NaN propagates: clamp keeps it and the polynomial carries it
        1.0 - 2.0 / (exp_f32(2.0 * self) + 1.0)
    }
}

/// Rows of a fused gate pass run in parallel only when there is enough work.
pub(crate) const PAR_MIN: usize = 1 << 14;

/// Fewest batch rows a chunk of [`Chunks`] gets (one 8-row micro-kernel tile).
pub const MIN_ROWS: usize = 8;

/// How a layer call splits its batch across threads: `n` chunks of
/// consecutive rows (sizes differing by at most one, each at least
/// [`MIN_ROWS`] when n > 1), each running the whole recurrence on its own
/// rows, with `inner` threads inside each chunk's products and gate passes.
///
/// Why by rows: the batch rows of a recurrence never interact, so the chunks
/// run every step without synchronising. Splitting each step's product by
/// columns instead (`inner` > 1) costs two barriers per step, forward and
/// backward — 400 per LSTM call at T = 100 — which kept two-thread LSTM at
/// 0.76× torch. Batches below 2·[`MIN_ROWS`] keep the column split: a chunk
/// of a few rows would waste most of each micro-kernel tile.
#[derive(Clone, Copy, Debug)]
pub struct Chunks {
    pub n: usize,
    pub b: usize,
    pub inner: usize,
}

impl Chunks {
    /// For a batch of `b` whose every row costs `work` multiply-adds over
    /// the whole call (each chunk should get at least a GEMM thread's share).
    pub fn new(b: usize, work: usize) -> Chunks {
        Self::with_threads(crate::cpu::num_threads(), b, work)
    }

    pub fn with_threads(threads: usize, b: usize, work: usize) -> Chunks {
        let by_work = b.saturating_mul(work) / crate::cpu::gemm::MNK_PER_THREAD;
        let n = threads.min(b / MIN_ROWS).min(by_work).max(1);
        Chunks { n, b, inner: if n == 1 { threads } else { 1 } }
    }

    /// Rows r0..r1 of chunk `c`.
    pub fn bounds(&self, c: usize) -> (usize, usize) {
        (c * self.b / self.n, (c + 1) * self.b / self.n)
    }

    /// The most rows a chunk has (what the step products' tiles are picked for).
    pub fn max_rows(&self) -> usize {
        self.b.div_ceil(self.n)
    }

    /// Runs `f(c, r0, r1, inner)` for every chunk c of rows r0..r1, in parallel.
    pub fn run(&self, f: impl Fn(usize, usize, usize, usize) + Sync) {
        if self.n == 1 {
            return f(0, 0, self.b, self.inner);
        }
        crate::cpu::gemm::team::Par::new(self.n).run(self.n, |c| {
            let (r0, r1) = self.bounds(c);
            f(c, r0, r1, 1)
        });
    }
}

/// A row-major buffer (rows of `w` values) that the chunks of
/// [`Chunks::run`] write through, each only its own rows: the row ranges
/// change every step, so one `&mut` cannot be split up front.
pub(crate) struct RowsMut<'a, T> {
    ptr: *mut T,
    rows: usize,
    w: usize,
    _p: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: the buffer is only reached through `rows`, whose callers promise
// disjoint ranges across threads.
unsafe impl<T: Send> Send for RowsMut<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for RowsMut<'_, T> {}

impl<'a, T> RowsMut<'a, T> {
    pub fn new(v: &'a mut [T], w: usize) -> Self {
        let rows = v.len().checked_div(w).unwrap_or(0);
        RowsMut { ptr: v.as_mut_ptr(), rows, w, _p: std::marker::PhantomData }
    }

    /// Rows r0..r1.
    ///
    /// # Safety
    /// No other live slice from this buffer overlaps rows r0..r1.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn rows(&self, r0: usize, r1: usize) -> &mut [T] {
        assert!(r0 <= r1 && r1 <= self.rows, "rnn: rows {r0}..{r1} outside {}", self.rows);
        // SAFETY: inside the buffer (checked); exclusive by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r0 * self.w), (r1 - r0) * self.w) }
    }
}


/// Shape of one layer-direction's sequence batch (see the module docs).
#[derive(Clone, Debug)]
pub struct Seq {
    /// Active rows per time position, non-increasing, all >= 1.
    pub bs: Vec<usize>,
    /// First row of each time position; `off[t]` = total rows.
    pub off: Vec<usize>,
    /// Batch size (`bs[0]`): rows of h0, h_n, c_n.
    pub b: usize,
    pub i: usize,
    pub h: usize,
    pub reverse: bool,
}

impl Seq {
    /// `bs` must be non-empty, non-increasing and positive (the ops layer checks).
    pub fn new(bs: Vec<usize>, i: usize, h: usize, reverse: bool) -> Seq {
        let mut off = Vec::with_capacity(bs.len() + 1);
        let mut acc = 0;
        off.push(0);
        for &n in &bs {
            acc += n;
            off.push(acc);
        }
        let b = bs.first().copied().unwrap_or(0);
        Seq { bs, off, b, i, h, reverse }
    }

    /// T equal-length sequences of a batch of `b`.
    pub fn uniform(t: usize, b: usize, i: usize, h: usize, reverse: bool) -> Seq {
        Seq::new(vec![b; t], i, h, reverse)
    }

    pub fn t(&self) -> usize {
        self.bs.len()
    }

    pub fn rows(&self) -> usize {
        self.off[self.bs.len()]
    }

    /// Time position processed at step `s` (reverse directions walk backwards).
    #[inline(always)]
    pub fn tpos(&self, s: usize) -> usize {
        if self.reverse {
            self.t() - 1 - s
        } else {
            s
        }
    }

    /// (first row, active rows) of time position `tp`.
    #[inline(always)]
    pub fn blk(&self, tp: usize) -> (usize, usize) {
        (self.off[tp], self.bs[tp])
    }

    /// The time position processed just before `tp`, if any.
    fn prev(&self, tp: usize) -> Option<usize> {
        if self.reverse {
            (tp + 1 < self.t()).then_some(tp + 1)
        } else {
            tp.checked_sub(1)
        }
    }
}

/// Every row's state before its step (rows × h): the row's output at the
/// previously processed time position, or `s0` where the sequence starts
/// (step 0, or a reverse-direction row at its own last time position).
pub fn prev_states<T: Float>(sq: &Seq, s0: &[T], hs: &[T]) -> Vec<T> {
    let h = sq.h;
    let mut out = vec![T::zero(); sq.rows() * h];
    for tp in 0..sq.t() {
        let (o, nb) = sq.blk(tp);
        let keep = sq.prev(tp).map_or(0, |q| sq.bs[q].min(nb));
        if keep > 0 {
            let qo = sq.off[sq.prev(tp).unwrap_or(0)];
            out[o * h..(o + keep) * h].copy_from_slice(&hs[qo * h..(qo + keep) * h]);
        }
        out[(o + keep) * h..(o + nb) * h].copy_from_slice(&s0[keep * h..nb * h]);
    }
    out
}

/// The input projection of every row: (rows × g) = x (rows × i) @ W_ihᵀ.
/// The bias is added by the gate passes, which read every gate anyway
/// (filling the buffer with it first cost a full extra write pass).
pub fn project<T: Gate>(rows: usize, g: usize, i: usize, x: &[T], w_ih: &[T]) -> Vec<T> {
    // zeroed allocation: fresh pages come from the OS already zero, and the
    // GEMM (beta = 0) never reads them
    let mut out = vec![T::zero(); rows * g];
    if i > 0 && rows > 0 {
        let xm = MatRef { data: x, offset: 0, rs: i, cs: 1 };
        // B = W_ihᵀ: B(p, j) = w_ih[j, p]
        let wm = MatRef { data: w_ih, offset: 0, rs: 1, cs: i };
        gemm(rows, g, i, T::one(), xm, wm, T::zero(), &mut out);
    }
    out
}

/// The gradients after backward through time, as GEMMs over all rows:
/// dx = dgx @ W_ih, dW_ih = dgxᵀ @ x, dW_hh = dghᵀ @ hprev, where dgx / dgh
/// (rows × g) are the gate gradients seen by the input and recurrent
/// products (the same buffer except for GRU's n gate). dx is None unless
/// wanted.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn weight_grads<T: Gate>(
    sq: &Seq,
    g: usize,
    x: &[T],
    w_ih: &[T],
    dgx: &[T],
    dgh: &[T],
    hprev: &[T],
    want_dx: bool,
) -> (Option<Vec<T>>, Vec<T>, Vec<T>) {
    let (rows, i, h) = (sq.rows(), sq.i, sq.h);
    let dx = want_dx.then(|| {
        let mut dx = vec![T::zero(); rows * i];
        if i > 0 {
            let dm = MatRef { data: dgx, offset: 0, rs: g, cs: 1 };
            gemm(rows, i, g, T::one(), dm, MatRef { data: w_ih, offset: 0, rs: i, cs: 1 }, T::zero(), &mut dx);
        }
        dx
    });
    let mut dw_ih = vec![T::zero(); g * i];
    if i > 0 {
        // dGᵀ (g × rows): A(r, p) = dgx[p, r]
        let dt = MatRef { data: dgx, offset: 0, rs: 1, cs: g };
        gemm(g, i, rows, T::one(), dt, MatRef { data: x, offset: 0, rs: i, cs: 1 }, T::zero(), &mut dw_ih);
    }
    let mut dw_hh = vec![T::zero(); g * h];
    let dt = MatRef { data: dgh, offset: 0, rs: 1, cs: g };
    gemm(g, h, rows, T::one(), dt, MatRef { data: hprev, offset: 0, rs: h, cs: 1 }, T::zero(), &mut dw_hh);
    (dx, dw_ih, dw_hh)
}

/// A (rows × w) buffer that the chunks of [`Chunks::run`] fill, each only
/// its own rows and every row exactly once, without a zero-filling pass
/// over the whole buffer first: a `vec![0; n]` of the LSTM's 26 MB gate
/// buffers is a serial memset (the glibc tuning keeps such blocks on the
/// heap, so calloc must clear them) plus a second trip to memory when the
/// kernel writes the rows later. Here each row block is zeroed just before
/// its kernel writes it, while its lines are in cache anyway.
pub(crate) struct Fresh<T> {
    v: Vec<T>,
    ptr: *mut T,
    rows: usize,
    w: usize,
    given: std::sync::atomic::AtomicUsize,
}

// SAFETY: rows are only reached through `rows`, whose callers promise
// disjoint ranges across threads; `v` itself is untouched until `finish`.
unsafe impl<T: Send> Send for Fresh<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Fresh<T> {}

impl<T: Float> Fresh<T> {
    /// Room for `extra` more values after the rows (appended by the caller).
    pub fn new(rows: usize, w: usize, extra: usize) -> Fresh<T> {
        let mut v = Vec::with_capacity(rows * w + extra);
        let ptr = v.as_mut_ptr();
        Fresh { v, ptr, rows, w, given: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// Rows r0..r1, zeroed.
    ///
    /// # Safety
    /// Each row is asked for once, so no two live slices overlap.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn rows(&self, r0: usize, r1: usize) -> &mut [T] {
        assert!(r0 <= r1 && r1 <= self.rows, "rnn: rows {r0}..{r1} outside {}", self.rows);
        self.given.fetch_add(r1 - r0, std::sync::atomic::Ordering::Relaxed);
        let n = (r1 - r0) * self.w;
        // SAFETY: inside the allocation (capacity >= rows·w, checked range);
        // exclusive by the caller's promise. Written as MaybeUninit first, so
        // the &mut [T] below only ever sees initialised values.
        unsafe {
            let p = self.ptr.add(r0 * self.w);
            std::slice::from_raw_parts_mut(p.cast::<std::mem::MaybeUninit<T>>(), n).fill(std::mem::MaybeUninit::new(T::zero()));
            std::slice::from_raw_parts_mut(p, n)
        }
    }

    /// The buffer, once every row has been handed out (else a bug: panics,
    /// without ever exposing the unwritten rows).
    pub fn finish(mut self) -> Vec<T> {
        let given = *self.given.get_mut();
        assert_eq!(given, self.rows, "rnn: {given} of {} rows written", self.rows);
        // SAFETY: every row was handed out once by `rows`, which initialised it.
        unsafe { self.v.set_len(self.rows * self.w) };
        self.v
    }
}

/// `[a | b]` row by row: a (n × ka) and b (n × kb) side by side (n × (ka+kb)).
pub fn cat_cols<T: Float>(a: &[T], ka: usize, b: &[T], kb: usize) -> Vec<T> {
    let n = a.len().checked_div(ka).unwrap_or_else(|| b.len().checked_div(kb).unwrap_or(0));
    let mut v = Vec::with_capacity(n * (ka + kb));
    for r in 0..n {
        v.extend_from_slice(&a[r * ka..(r + 1) * ka]);
        v.extend_from_slice(&b[r * kb..(r + 1) * kb]);
    }
    v
}

/// dW_ih and dW_hh as one GEMM, `[dW_ih | dW_hh]` (g × (i+h)) =
/// dGᵀ · `xh`, where `xh` (rows × (i+h)) holds each row's input and
/// previous hidden state side by side (the backward pass writes it): dG,
/// the biggest operand (rows × g), is packed once instead of twice.
pub fn weight_grads_cat<T: Gate>(rows: usize, g: usize, i: usize, h: usize, dg: &[T], xh: &[T]) -> (Vec<T>, Vec<T>) {
    let w = i + h;
    let mut dw = vec![T::zero(); g * w];
    let dt = MatRef { data: dg, offset: 0, rs: 1, cs: g };
    gemm(g, w, rows, T::one(), dt, MatRef { data: xh, offset: 0, rs: w, cs: 1 }, T::zero(), &mut dw);
    let (mut dw_ih, mut dw_hh) = (Vec::with_capacity(g * i), Vec::with_capacity(g * h));
    for r in dw.chunks_exact(w) {
        dw_ih.extend_from_slice(&r[..i]);
        dw_hh.extend_from_slice(&r[i..]);
    }
    (dw_ih, dw_hh)
}

/// Column sums of a (rows × g) matrix (the bias gradients).
pub fn colsum<T: Float>(m: &[T], g: usize) -> Vec<T> {
    let mut v = vec![T::zero(); g];
    for r in m.chunks(g) {
        for (a, &x) in v.iter_mut().zip(r) {
            *a = *a + x;
        }
    }
    v
}

#[cfg(test)]
mod tests;
