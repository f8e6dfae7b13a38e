//! Fused cross-entropy: log-softmax and negative log-likelihood in one pass
//! per row, so the (N, C) log-probabilities are never written to memory.

use super::Float;

/// Per-row losses (0 for ignored rows) and the count of rows not ignored.
/// Targets were range-checked by the op.
pub fn cross_entropy_fwd<T: Float>(logits: &[T], c: usize, target: &[i64], ignore: i64) -> (Vec<T>, usize) {
    let mut count = 0;
    let losses = logits
        .chunks_exact(c.max(1))
        .zip(target)
        .map(|(row, &t)| {
            if t == ignore {
                return T::zero();
            }
            count += 1;
            let m = row.iter().fold(T::NEG_INF, |a, &b| if b > a { b } else { a });
            let s: f64 = row.iter().map(|&v| (v - m).exp().to_f64()).sum();
            T::from_f64(s.ln()) + m - row[t as usize]
        })
        .collect();
    (losses, count)
}

/// d loss / d logits = (softmax(row) − onehot(target)) · scale[row].
pub fn cross_entropy_bwd<T: Float>(logits: &[T], c: usize, target: &[i64], ignore: i64, scale: &[T]) -> Vec<T> {
    let mut out = vec![T::zero(); logits.len()];
    for (((row, o), &t), &s) in logits.chunks_exact(c.max(1)).zip(out.chunks_exact_mut(c.max(1))).zip(target).zip(scale) {
        if t == ignore {
            continue;
        }
        let m = row.iter().fold(T::NEG_INF, |a, &b| if b > a { b } else { a });
        let sum: f64 = row.iter().map(|&v| (v - m).exp().to_f64()).sum();
        let inv = T::from_f64(1.0 / sum);
        for (ov, &v) in o.iter_mut().zip(row) {
            *ov = (v - m).exp() * inv * s;
        }
        o[t as usize] = o[t as usize] - s;
    }
    out
}
