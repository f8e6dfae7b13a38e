//! matmul (batched, broadcasting) and the fused linear layer, on the GEMM kernel.

use super::{shape, shape_i64, sum_to, unary};
use crate::autograd::{needs_grad, record};
use crate::cpu::gemm::{arows, gemm, gemm_threads, useful_threads, MatRef};
use crate::error::{Error, Result};
use crate::tensor::{broadcast_shapes, broadcast_strides, for_each_offset2, numel, DType, Tensor};
use rayon::prelude::*;

fn check_dtypes(op: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dtype != b.dtype {
        return Err(Error::runtime(format!(
            "{op}: expected m1 and m2 to have the same dtype, but got: {} != {}",
            a.dtype.name(),
            b.dtype.name()
        )));
    }
    if a.dtype == DType::Bool {
        return Err(Error::runtime(format!("{op}: not implemented for 'bool'")));
    }
    Ok(())
}

/// C[b] = A[b] @ B[b] for every broadcast batch index; returns (…, m, n).
fn bmm_forward(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (na, nb) = (a.ndim(), b.ndim());
    let (m, k, n) = (a.shape[na - 2], a.shape[na - 1], b.shape[nb - 1]);
    let batch = broadcast_shapes(&a.shape[..na - 2], &b.shape[..nb - 2], "matmul").map_err(|_| {
        Error::runtime(format!(
            "matmul: batch dimensions of {:?} and {:?} cannot be broadcast together",
            a.shape, b.shape
        ))
    })?;
    let sa = broadcast_strides(&a.shape[..na - 2], &a.strides[..na - 2], &batch);
    let sb = broadcast_strides(&b.shape[..nb - 2], &b.strides[..nb - 2], &batch);
    let mut offs = Vec::with_capacity(numel(&batch));
    for_each_offset2(&batch, &sa, a.offset, &sb, b.offset, |x, y| offs.push((x, y)));
    let mut out_shape = batch.clone();
    out_shape.extend([m, n]);
    if !a.dtype.is_float() {
        // integer matmul: exact in f64 for the magnitudes anyone multiplies
        let r = bmm_forward(&unary::to_dtype(a, DType::F64)?, &unary::to_dtype(b, DType::F64)?)?;
        return unary::to_dtype(&r, a.dtype);
    }
    Ok(crate::with_float!(a.dtype, "matmul", T => {
        let (abuf, bbuf) = (a.storage.cpu().slice::<T>(), b.storage.cpu().slice::<T>());
        let (ars, acs, brs, bcs) = (a.strides[na - 2], a.strides[na - 1], b.strides[nb - 2], b.strides[nb - 1]);
        // Batches split across threads while there are at least as many
        // batches as threads one GEMM could use; otherwise one GEMM at a
        // time, each on all threads (no nested parallelism either way).
        let threads = crate::cpu::num_threads();
        let by_batch = offs.len() > 1 && threads > 1 && offs.len() >= useful_threads(m, n, k).min(threads);
        let run = |(cc, &(oa, ob)): (&mut [T], &(usize, usize))| {
            let am = MatRef { data: abuf, offset: oa, rs: ars, cs: acs };
            let bm = MatRef { data: bbuf, offset: ob, rs: brs, cs: bcs };
            gemm_threads(if by_batch { 1 } else { threads }, m, n, k, T::one(), am, bm, T::zero(), cc);
        };
        // one beta = 0 GEMM per m×n chunk: together they write all of C
        let c = gemm_output_with::<T>(numel(&out_shape), |c| {
            if m * n > 0 {
                if by_batch && offs.len().saturating_mul(m * n * k) >= 1 << 16 {
                    crate::cpu::install(|| c.par_chunks_mut(m * n).zip(offs.par_iter()).for_each(run));
                } else {
                    c.chunks_mut(m * n).zip(offs.iter()).for_each(run);
                }
            }
        });
        Tensor::from_vec_unchecked(c, &out_shape)
    }))
}

fn bmm_broadcast(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (na, nb) = (a.ndim(), b.ndim());
    if a.shape[na - 1] != b.shape[nb - 2] {
        return Err(Error::runtime(format!(
            "matmul: mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{}); full shapes {:?} and {:?}",
            a.shape[na - 2], a.shape[na - 1], b.shape[nb - 2], b.shape[nb - 1], a.shape, b.shape
        )));
    }
    let out = bmm_forward(a, b)?;
    if !needs_grad(&[a, b]) {
        return Ok(out);
    }
    let (ac, bc) = (a.clone(), b.clone());
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let ga = if ac.requires_grad() {
            Some(sum_to(&bmm_broadcast(g, &shape::transpose(&bc, -1, -2)?)?, &ac.shape, ac.dtype)?)
        } else {
            None
        };
        let gb = if bc.requires_grad() {
            Some(sum_to(&bmm_broadcast(&shape::transpose(&ac, -1, -2)?, g)?, &bc.shape, bc.dtype)?)
        } else {
            None
        };
        Ok(vec![ga, gb])
    };
    Ok(record(out, "Mm", &[a, b], &[a, b], Box::new(back)))
}

/// torch.matmul: dot, matrix-vector, matrix-matrix and broadcast batches.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    super::same_device("matmul", a, b)?;
    check_dtypes("matmul", a, b)?;
    match (a.ndim(), b.ndim()) {
        (0, _) | (_, 0) => Err(Error::runtime(format!(
            "matmul: both arguments to matmul need to be at least 1D, but they are {}D and {}D",
            a.ndim(),
            b.ndim()
        ))),
        (1, 1) => {
            if a.shape[0] != b.shape[0] {
                return Err(Error::runtime(format!(
                    "dot: inconsistent tensor size, expected tensor [{}] and src [{}] to have the same number of elements",
                    a.shape[0], b.shape[0]
                )));
            }
            let r = bmm_broadcast(&shape::unsqueeze(a, 0)?, &shape::unsqueeze(b, 1)?)?;
            shape::reshape(&r, &[])
        }
        (1, _) => shape::squeeze(&bmm_broadcast(&shape::unsqueeze(a, 0)?, b)?, Some(&[-2])),
        (_, 1) => shape::squeeze(&bmm_broadcast(a, &shape::unsqueeze(b, 1)?)?, Some(&[-1])),
        _ => bmm_broadcast(a, b),
    }
}

/// y = x @ wᵀ + b in one GEMM whose C starts as the broadcast bias (so the
/// bias add costs no extra pass), recorded as one node.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    if w.ndim() != 2 || x.ndim() == 0 {
        return Err(Error::runtime(format!(
            "linear: expected input of at least 1 dim and a 2-D weight, got input {:?} and weight {:?}",
            x.shape, w.shape
        )));
    }
    let (out_f, in_f) = (w.shape[0], w.shape[1]);
    if x.shape[x.ndim() - 1] != in_f {
        return Err(Error::runtime(format!(
            "linear: mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{}): input {:?}, weight {:?}",
            numel(&x.shape[..x.ndim() - 1]),
            in_f,
            in_f,
            out_f,
            x.shape,
            w.shape
        )));
    }
    check_dtypes("linear", x, w)?;
    if let Some(b) = bias {
        if b.shape != [out_f] && b.ndim() != 0 {
            return Err(Error::runtime(format!("linear: bias of shape {:?} does not match out_features {out_f}", b.shape)));
        }
        check_dtypes("linear", x, b)?;
    }
    if !x.dtype.is_float() {
        return Err(Error::runtime(format!("linear: expected a floating point input, got {}", x.dtype.name())));
    }
    let x2 = shape::reshape(&x.detach(), &[-1, in_f as i64])?;
    let rows = x2.shape[0];
    let mut out_shape = x.shape[..x.ndim() - 1].to_vec();
    out_shape.push(out_f);
    let out = crate::with_float!(x.dtype, "linear", T => {
        let am = MatRef { data: x2.storage.cpu().slice::<T>(), offset: x2.offset, rs: x2.strides[0], cs: x2.strides[1] };
        // B = wᵀ: B(p, j) = w[j, p]
        let bm = MatRef { data: w.storage.cpu().slice::<T>(), offset: w.offset, rs: w.strides[1], cs: w.strides[0] };
        let w_rows = w.is_contiguous() && w.offset + out_f * in_f <= w.storage.cpu().slice::<T>().len();
        let c: Vec<T> = if w_rows && arows::use_a_rows(rows, in_f) {
            // y = (W·xᵀ)ᵀ + b with W read in place (see cpu/gemm/arows.rs)
            let ws = &w.storage.cpu().slice::<T>()[w.offset..w.offset + out_f * in_f];
            let xt = MatRef { rs: am.cs, cs: am.rs, ..am };
            let bv = match bias {
                Some(b) => Some(shape::expand(&b.detach(), &[out_f as i64])?.to_vec::<T>()),
                None => None,
            };
            arows::gemm_a_rows::<T>(crate::cpu::num_threads(), out_f, rows, in_f, ws, xt, bv.as_deref())
        } else { match bias {
            Some(b) => {
                // beta = 1 adds the product to the bias rows
                let bv = shape::expand(&b.detach(), &[out_f as i64])?.to_vec::<T>();
                let mut c = Vec::with_capacity(rows * out_f);
                for _ in 0..rows { c.extend_from_slice(&bv); }
                gemm(rows, out_f, in_f, T::one(), am, bm, T::one(), &mut c);
                c
            }
            None => gemm_output_with(rows * out_f, |c| gemm(rows, out_f, in_f, T::one(), am, bm, T::zero(), c)),
        } };
        Tensor::from_vec_unchecked(c, &out_shape)
    });
    let mut inputs = vec![x, w];
    if let Some(b) = bias {
        inputs.push(b);
    }
    if !needs_grad(&inputs) {
        return Ok(out);
    }
    let (xc, wc, bc) = (x.clone(), w.clone(), bias.cloned());
    let back = move |g: &Tensor| -> Result<Vec<Option<Tensor>>> {
        let g2 = shape::reshape(g, &[-1, out_f as i64])?;
        let (want_x, want_w) = (xc.requires_grad(), wc.requires_grad());
        let (mut gx, mut gw, mut gb) = (None, None, None);
        // the bias gradient (g's column sum) comes from `linear_grads`, in
        // parallel with the weight gradient, when the bias is a plain vector
        let want_b = bc.as_ref().is_some_and(|b| b.requires_grad() && b.shape == [out_f] && b.dtype == g2.dtype);
        if crate::autograd::is_grad_enabled() || g2.dtype != xc.dtype {
            // create_graph: through recorded ops, so the gradients have history
            if want_x {
                gx = Some(shape::reshape(&matmul(&g2, &wc)?, &shape_i64(&xc.shape))?);
            }
            if want_w {
                let x2 = shape::reshape(&xc, &[-1, in_f as i64])?;
                gw = Some(matmul(&shape::t(&g2)?, &x2)?);
            }
        } else if want_x || want_w || want_b {
            (gx, gw, gb) = linear_grads(&g2, &xc, &wc, want_x, want_w, want_b)?;
        }
        let mut grads = vec![gx, gw];
        if let Some(b) = &bc {
            grads.push(match gb {
                Some(gb) => Some(gb),
                None if b.requires_grad() => Some(sum_to(&g2, &b.shape, b.dtype)?),
                None => None,
            });
        }
        Ok(grads)
    };
    let saved: Vec<&Tensor> = inputs.clone();
    Ok(record(out, "Linear", &inputs, &saved, Box::new(back)))
}

/// dx = g·w (rows×in), dw = gᵀ·x (out×in) and db = Σ_rows g (out) of
/// `linear`, straight on the GEMM (no recorded matmuls, transposed views or
/// batch bookkeeping). With dx and dw wanted and two threads, the two
/// products — equal in size — run side by side, one per thread, each
/// single-threaded: no split of a small GEMM and no synchronisation inside
/// it; each thread allocates its own output (no zero fill: the GEMM writes
/// all of it), and db rides on the dx thread. `g2` is rows×out (any strides).
#[allow(clippy::type_complexity)]
fn linear_grads(
    g2: &Tensor,
    x: &Tensor,
    w: &Tensor,
    want_x: bool,
    want_w: bool,
    want_b: bool,
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let (out_f, in_f) = (w.shape[0], w.shape[1]);
    let x2 = shape::reshape(&x.detach(), &[-1, in_f as i64])?;
    let rows = g2.shape[0];
    let mat = |t: &Tensor, tr: bool| -> (usize, usize, usize) {
        let (rs, cs) = (t.strides[0], t.strides[1]);
        if tr { (t.offset, cs, rs) } else { (t.offset, rs, cs) }
    };
    Ok(crate::with_float!(x.dtype, "linear", T => {
        let (gbuf, xbuf, wbuf) = (g2.storage.cpu().slice::<T>(), x2.storage.cpu().slice::<T>(), w.storage.cpu().slice::<T>());
        let (ga, gt) = ((mat(g2, false)), mat(g2, true));
        let (gam, gtm) = (MatRef { data: gbuf, offset: ga.0, rs: ga.1, cs: ga.2 }, MatRef { data: gbuf, offset: gt.0, rs: gt.1, cs: gt.2 });
        let xm = { let q = mat(&x2, false); MatRef { data: xbuf, offset: q.0, rs: q.1, cs: q.2 } };
        let wm = { let q = mat(w, false); MatRef { data: wbuf, offset: q.0, rs: q.1, cs: q.2 } };
        let threads = crate::cpu::num_threads();
        let (mut dx, mut dw, mut db) = (None, None, None);
        let do_x = |th: usize, dx: &mut Option<Vec<T>>, db: &mut Option<Vec<T>>| {
            if want_x {
                *dx = Some(gemm_output_with(rows * in_f, |c| gemm_threads(th, rows, in_f, out_f, T::one(), gam, wm, T::zero(), c)));
            }
            if want_b {
                *db = Some(column_sums(&gam, rows, out_f));
            }
        };
        let do_w = |th: usize, dw: &mut Option<Vec<T>>| {
            if want_w {
                *dw = Some(gemm_output_with(out_f * in_f, |c| gemm_threads(th, out_f, in_f, rows, T::one(), gtm, xm, T::zero(), c)));
            }
        };
        let flops = rows.saturating_mul(in_f).saturating_mul(out_f);
        if want_x && want_w && threads >= 2 && flops >= 2 * useful_threads_min() {
            // one product per thread; with more threads each gets half of them
            let th = (threads / 2).max(1);
            crate::cpu::gemm::team::join(|| do_x(th, &mut dx, &mut db), || do_w(threads - th, &mut dw));
        } else {
            do_x(threads, &mut dx, &mut db);
            do_w(threads, &mut dw);
        }
        (
            dx.map(|v| Tensor::from_vec_unchecked(v, &x.shape)),
            dw.map(|v| Tensor::from_vec_unchecked(v, &w.shape)),
            db.map(|v| Tensor::from_vec_unchecked(v, &[out_f])),
        )
    }))
}

/// Column sums of the rows×cols matrix `g` (the bias gradient), row by row
/// so a unit column stride vectorises.
fn column_sums<T: crate::cpu::Float>(g: &MatRef<T>, rows: usize, cols: usize) -> Vec<T> {
    let mut s = vec![T::zero(); cols];
    for r in 0..rows {
        let base = g.offset + r * g.rs;
        if g.cs == 1 {
            for (acc, &v) in s.iter_mut().zip(&g.data[base..base + cols]) {
                *acc = *acc + v;
            }
        } else {
            for (j, acc) in s.iter_mut().enumerate() {
                *acc = *acc + g.data[base + j * g.cs];
            }
        }
    }
    s
}

/// A `len`-element buffer filled by `run`, a beta = 0 GEMM over all of it,
/// without the zero fill first (a memset pass over the whole output, ~25 µs
/// for a 256×784 weight gradient).
fn gemm_output_with<T: crate::cpu::Float>(len: usize, run: impl FnOnce(&mut [T])) -> Vec<T> {
    // SAFETY: `gemm` / `gemm_threads` with beta = 0 write all m·n elements on
    // every path (tiles, edge tiles, GEMV, k = 0) and read none of them.
    let mut v = unsafe { crate::tensor::storage::uninit_vec::<T>(len) };
    run(&mut v);
    v
}

/// Multiply-adds below which a GEMM is not worth a second thread.
fn useful_threads_min() -> usize {
    crate::cpu::gemm::MNK_PER_THREAD
}
