//! The plain triple loop every faster GEMM is tested against.

use super::MatRef;
use crate::cpu::Float;

/// C (m×n, row-major, contiguous) = alpha·A·B + beta·C, accumulating in f64.
#[allow(clippy::too_many_arguments)]
pub fn gemm_ref<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: MatRef<T>,
    b: MatRef<T>,
    beta: T,
    c: &mut [T],
) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f64;
            for p in 0..k {
                acc += a.at(i, p).to_f64() * b.at(p, j).to_f64();
            }
            let prev = if beta.to_f64() == 0.0 {
                0.0
            } else {
                beta.to_f64() * c[i * n + j].to_f64()
            };
            c[i * n + j] = T::from_f64(alpha.to_f64() * acc + prev);
        }
    }
}
